/**
 * `CorrelationFilter` (api-contract.md): which correlations `correlations` lists. Shapes only;
 * values are checked as `AuditEventFilter`'s are (index/correlations.ts).
 */
import { MAX_VALUES_PER_FIELD } from '../../events/filter.ts';
import { builder } from '../builder.ts';
import { EventOutcomeEnum } from '../enums.ts';

const list = `any of these values (OR), at most ${MAX_VALUES_PER_FIELD}; an empty list is refused (omit the field instead)`;

export const CorrelationFilterRef = builder.inputType('CorrelationFilter', {
  description:
    'Correlations with at least one event that matches every given field at once (in the window, with one of the categories, one of the outcomes, in one of the clusters).',
  fields: (t) => ({
    since: t.field({ type: 'DateTime', description: 'An event with timestamp ≥ since.' }),
    until: t.field({ type: 'DateTime', description: 'An event with timestamp < until.' }),
    eventCategory: t.stringList({ description: `An event whose eventCategory is ${list}.` }),
    outcome: t.field({ type: [EventOutcomeEnum], description: `An event whose outcome is ${list}.` }),
    clusterName: t.stringList({ description: `An event whose clusterName is ${list}.` }),
  }),
});
