/**
 * Every type, field, argument, input field and enum value of the public schema has a description
 * (what GraphiQL's docs and a dashboard developer's codegen show). Built-in scalars and
 * introspection types (`__*`) are GraphQL's own and not checked.
 */
import { isEnumType, isInputObjectType, isInterfaceType, isObjectType, isSpecifiedScalarType, type GraphQLArgument, type GraphQLNamedType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../../src/graphql/schema.ts';

const described = (d: string | null | undefined): boolean => typeof d === 'string' && d.trim().length > 0;

/** Schema coordinates (`Type`, `Type.field`, `Type.field(arg:)`, `Enum.VALUE`) without a description. */
function undescribed(): string[] {
  const missing: string[] = [];
  const args = (coordinate: string, list: readonly GraphQLArgument[]) => {
    for (const a of list) if (!described(a.description)) missing.push(`${coordinate}(${a.name}:)`);
  };
  for (const type of Object.values(schema.getTypeMap()) as GraphQLNamedType[]) {
    if (type.name.startsWith('__') || isSpecifiedScalarType(type)) continue;
    if (!described(type.description)) missing.push(type.name);
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const f of Object.values(type.getFields())) {
        if (!described(f.description)) missing.push(`${type.name}.${f.name}`);
        args(`${type.name}.${f.name}`, f.args);
      }
    } else if (isInputObjectType(type)) {
      for (const f of Object.values(type.getFields())) if (!described(f.description)) missing.push(`${type.name}.${f.name}`);
    } else if (isEnumType(type)) {
      for (const v of type.getValues()) if (!described(v.description)) missing.push(`${type.name}.${v.name}`);
    }
  }
  return missing.sort();
}

describe('schema descriptions', () => {
  it('describes every type, field, argument, input field and enum value', () => {
    expect(undescribed(), 'these lack a description').toEqual([]);
  });
});
