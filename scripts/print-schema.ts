/**
 * Prints the GraphQL schema, types sorted, as committed in schema.graphql.
 *
 *   tsx scripts/print-schema.ts            print to stdout
 *   tsx scripts/print-schema.ts --write    rewrite schema.graphql
 *   tsx scripts/print-schema.ts --check    exit 1 when schema.graphql differs from the code
 */
import { readFile, writeFile } from 'node:fs/promises';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { schema } from '../src/graphql/schema.ts';

export const SCHEMA_FILE = new URL('../schema.graphql', import.meta.url);

export function printSortedSchema(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}

async function main(argv: string[]): Promise<number> {
  const printed = printSortedSchema();
  if (argv.includes('--check')) {
    let committed: string | null = null;
    try {
      committed = await readFile(SCHEMA_FILE, 'utf8');
    } catch {
      // reported below
    }
    if (committed === printed) {
      process.stdout.write('schema.graphql is up to date\n');
      return 0;
    }
    const a = (committed ?? '').split('\n');
    const b = printed.split('\n');
    const line = a.findIndex((l, i) => l !== b[i]);
    process.stderr.write(
      committed === null
        ? 'schema.graphql is missing; run `npm run schema:print -- --write`\n'
        : `schema.graphql differs from the schema in code (first difference at line ${(line < 0 ? a.length : line) + 1}); run \`npm run schema:print -- --write\`\n`,
    );
    return 1;
  }
  if (argv.includes('--write')) {
    await writeFile(SCHEMA_FILE, printed);
    process.stdout.write('wrote schema.graphql\n');
    return 0;
  }
  process.stdout.write(printed);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
