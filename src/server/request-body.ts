/**
 * What an HTTP request to /graphql may carry, as Yoga plugins for app.ts: POST bodies only as JSON,
 * GET's JSON parameters checked, JSON bodies nested no deeper than MAX_JSON_NESTING, and bodies no
 * larger than the app's limit.
 */
import { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { GraphQLError } from 'graphql';
import { createGraphQLError, type GraphQLParams, type Plugin } from 'graphql-yoga';
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

/** A request parser, as Yoga's plugins set them. */
type RequestParser = (request: Request) => GraphQLParams | Promise<GraphQLParams>;

/**
 * JSON POST bodies: Yoga's JSON parser (`request.json()`), with JSON nested deeper than
 * MAX_JSON_NESTING refused before JSON.parse (see json-depth.ts), reading at most `limit` bytes.
 */
async function parseJsonBody(req: Request, limit = Number.POSITIVE_INFINITY): Promise<GraphQLParams> {
  const text = await limitedText(req, limit);
  if (nestsDeeperThan(text)) throw bodyError(`The request body nests JSON deeper than ${MAX_JSON_NESTING} levels.`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw bodyError('POST body sent invalid JSON.');
  }
  if (body === null || typeof body !== 'object') throw bodyError(`POST body is expected to be object but received ${body === null ? 'null' : typeof body}`);
  return body as GraphQLParams;
}

const jsonParser: RequestParser = (req) => parseJsonBody(req);

/** JSON POST bodies are read by parseJsonBody (the size limit, useRequestBodyLimit, reads them within it). */
export function useJsonNestingLimit(): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser }) {
      if (!requestParser || !isYogaJsonPost(request)) return;
      setRequestParser(jsonParser);
    },
  };
}

/** Yoga's errors for the body limit (its useLimitRequestBodySize), word for word. */
const requestBodyTooLarge = () => createGraphQLError('Request body too large', { extensions: { http: { status: 413 }, code: 'REQUEST_ENTITY_TOO_LARGE' } });
const invalidContentLength = () => createGraphQLError('Content-Length header is invalid.', { extensions: { http: { status: 400 }, code: 'BAD_REQUEST' } });
/** Only one non-negative integer is a valid Content-Length (as Yoga: lists are a smuggling attempt). */
const CONTENT_LENGTH = /^\d+$/;

/** A body's chunks, refused (413) as soon as they pass `limit` bytes, the rest left unread. */
async function* withinLimit(body: ReadableStream<Uint8Array>, limit: number): AsyncGenerator<Uint8Array> {
  let bytes = 0;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    if (bytes > limit) throw requestBodyTooLarge();
    yield chunk;
  }
}

/**
 * Gives up on a body as node's stream.pipeline gives up on its source (Yoga's limit ends a body
 * that way): a server request is destroyed without its socket, so that the 413 still goes out on it.
 */
function giveUp(readable: Readable, error: Error): void {
  if (readable instanceof IncomingMessage) (readable as { socket: unknown }).socket = null;
  readable.destroy(error);
}

/**
 * A node stream's bytes, as whatwg-node's own `text()` collects them ('data' to 'end'), refused
 * (413) once past `limit`. A class, not closures: tsx names every closure it creates (a visible
 * cost per request).
 */
class LimitedRead {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private resolve: (body: Buffer) => void = () => {};
  private reject: (e: unknown) => void = () => {};
  private readonly onData = this.data.bind(this);
  private readonly onError = this.error.bind(this);
  private readonly onEnd = this.end.bind(this);

  constructor(
    private readonly readable: Readable,
    private readonly limit: number,
  ) {}

  read(): Promise<Buffer> {
    if (this.readable.destroyed) return Promise.resolve(Buffer.alloc(0));
    const done = new Promise<Buffer>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.readable.on('data', this.onData);
    this.readable.once('error', this.onError);
    this.readable.once('end', this.onEnd);
    return done;
  }

  private stop(): void {
    this.readable.off('data', this.onData);
    this.readable.off('error', this.onError);
    this.readable.off('end', this.onEnd);
  }

  private data(chunk: Buffer): void {
    this.bytes += chunk.byteLength;
    if (this.bytes <= this.limit) {
      this.chunks.push(chunk);
      return;
    }
    this.stop();
    const error = requestBodyTooLarge();
    giveUp(this.readable, error);
    this.reject(error);
  }

  private error(e: unknown): void {
    this.stop();
    this.reject(e);
  }

  private end(): void {
    this.stop();
    this.resolve(Buffer.concat(this.chunks, this.bytes));
  }
}

/**
 * The body as text (UTF-8, as whatwg-node's `text()` decodes it), read no further than `limit`
 * bytes. A body over a node stream (whatwg-node's ReadableStream keeps it as `readable`: the
 * IncomingMessage itself on the server) is read from that stream; any other through its iterator.
 */
async function limitedText(req: Request, limit: number): Promise<string> {
  const body = req.body;
  if (!body || limit === Number.POSITIVE_INFINITY) return req.text();
  const readable = (body as { readable?: unknown }).readable;
  if (readable instanceof Readable) return (await new LimitedRead(readable, limit).read()).toString('utf8');
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of withinLimit(body, limit)) {
    chunks.push(chunk);
    bytes += chunk.byteLength;
  }
  return Buffer.concat(chunks, bytes).toString('utf8');
}

/**
 * The request body limit of Yoga's `maxRequestBodySize` (set that to false beside this plugin, and
 * put this after every plugin that sets a request parser, where Yoga puts its own): a
 * Content-Length that is not one integer is refused (400), one over `limit` too (413), and a body
 * is read no further than `limit` bytes (413), whatever its Content-Length said. The same checks
 * and errors; what differs is how a JSON body is read: Yoga's plugin pipes every body through a
 * TransformStream into a new Request (stream pipeline, AbortController, a DOMException when it
 * ends), a fifth of a createAuditEvent's CPU (bench/results/graphql-20261207T2017.md); here
 * parseJsonBody counts the chunks as it reads them. Any other parser gets a new Request whose body
 * is counted the same way (none does with app.ts' plugins: useJsonPostOnly refuses other bodies).
 */
export function useRequestBodyLimit(limit: number): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      const contentLength = request.headers.get('content-length');
      if (contentLength != null) {
        if (!CONTENT_LENGTH.test(contentLength)) throw invalidContentLength();
        if (Number(contentLength) > limit) throw requestBodyTooLarge();
      }
      if (requestParser == null || request.body == null) return;
      if (requestParser === jsonParser) return setRequestParser((req) => parseJsonBody(req, limit));
      const parser = requestParser as RequestParser;
      setRequestParser((req) => {
        const body = req.body;
        if (!body) return parser(req);
        const init = { method: req.method, headers: req.headers, signal: req.signal, body: withinLimit(body, limit), duplex: 'half' };
        return parser(new fetchAPI.Request(req.url, init as unknown as RequestInit));
      });
    },
  };
}
