/**
 * What an HTTP request to /graphql may carry, as Yoga plugins for app.ts: POST bodies only as JSON,
 * GET's JSON parameters checked, and JSON bodies nested no deeper than MAX_JSON_NESTING.
 */
import { GraphQLError } from 'graphql';
import type { GraphQLParams, Plugin } from 'graphql-yoga';
import { MAX_JSON_NESTING, nestsDeeperThan } from './json-depth.ts';

const badRequest = (fetchAPI: { Response: typeof Response }, status: number, message: string) =>
  new fetchAPI.Response(JSON.stringify({ errors: [{ message, extensions: { code: 'BAD_REQUEST' } }] }), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });

/**
 * POST must be JSON (`application/json` or `application/graphql-response+json`): 415 otherwise.
 * GET's `variables` and `extensions` parameters must be JSON: 400 otherwise (Yoga's GET parser
 * would throw a bare SyntaxError, answered as an internal error).
 */
export function useJsonPostOnly(): Plugin {
  return {
    onRequestParse({ request, url, endResponse, fetchAPI }) {
      if (request.method === 'GET') {
        for (const name of ['variables', 'extensions']) {
          const raw = url.searchParams.get(name);
          if (!raw) continue; // as Yoga: empty is absent
          try {
            JSON.parse(raw);
          } catch {
            return endResponse(badRequest(fetchAPI, 400, `The "${name}" parameter must be JSON`));
          }
        }
        return;
      }
      if (request.method !== 'POST') return;
      const type = request.headers.get('content-type') ?? '';
      if (/^application\/(?:graphql-response\+)?json\s*(?:;|$)/i.test(type)) return;
      endResponse(badRequest(fetchAPI, 415, 'POST bodies must be application/json'));
    },
  };
}

/** Yoga's JSON request parser takes these (its `isPOSTJsonRequest`; only the first of a list counts). */
function isYogaJsonPost(request: Request): boolean {
  const type = request.headers.get('content-type')?.split(',')[0] ?? '';
  return request.method === 'POST' && ['application/json', 'application/graphql+json'].some((t) => type === t || type.startsWith(`${t};`));
}

const bodyError = (message: string) => new GraphQLError(message, { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });

/**
 * JSON POST bodies: Yoga's parser (`request.json()`), with JSON nested deeper than
 * MAX_JSON_NESTING refused before JSON.parse (see json-depth.ts). Yoga's body size limit wraps
 * this parser like the one it replaces.
 */
export function useJsonNestingLimit(): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser }) {
      if (!requestParser || !isYogaJsonPost(request)) return;
      setRequestParser(async (req) => {
        const text = await req.text();
        if (nestsDeeperThan(text)) throw bodyError(`The request body nests JSON deeper than ${MAX_JSON_NESTING} levels.`);
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          throw bodyError('POST body sent invalid JSON.');
        }
        if (body === null || typeof body !== 'object')
          throw bodyError(`POST body is expected to be object but received ${body === null ? 'null' : typeof body}`);
        return body as GraphQLParams;
      });
    },
  };
}
