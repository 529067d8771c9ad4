/**
 * INTROSPECTION=false: `__schema` and `__type` are refused at validation, before anything runs,
 * with `extensions.code: FORBIDDEN` (`extensions.reason: INTROSPECTION_DISABLED`). `__typename`
 * still works (clients need it for unions and interfaces).
 *
 * graphql-js' own NoSchemaIntrospectionCustomRule does the detection (it refuses any field whose
 * type is `__Schema` or `__Type`, also inside fragments); this only gives its error our code.
 * It is added as a validation rule of Yoga's envelop, so it applies to every path that validates
 * through it: GET and POST over HTTP, and graphql-ws (src/server/ws.ts calls the envelop's
 * `validate`). @graphql-yoga/plugin-disable-introspection is not used: it marks requests in
 * `onRequestParse`, which the WebSocket path never goes through, so it would let introspection
 * through over WebSocket.
 */
import { GraphQLError, NoSchemaIntrospectionCustomRule, type ValidationRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ErrorCode } from '../errors.ts';

export const INTROSPECTION_DISABLED_MESSAGE = 'Introspection is disabled on this server.';

export const NoIntrospectionRule: ValidationRule = (context) => {
  // The same context, except that errors get our code (graphql-js' carry none).
  const coded = Object.create(context, {
    reportError: {
      value: (error: GraphQLError) =>
        context.reportError(
          new GraphQLError(INTROSPECTION_DISABLED_MESSAGE, {
            nodes: error.nodes ?? null,
            extensions: { code: ErrorCode.FORBIDDEN, reason: 'INTROSPECTION_DISABLED' },
          }),
        ),
    },
  }) as typeof context;
  return NoSchemaIntrospectionCustomRule(coded);
};

export function useDisableIntrospection(): Plugin {
  return { onValidate: ({ addValidationRule }) => addValidationRule(NoIntrospectionRule) };
}
