// A request/response session over one OctopusMQ bidirectional stream (QueuesService.Connect or
// StorageService.StorageConnect): requests carry a correlation id, responses echo it and may
// come back in any order. The session knows nothing about leaders: it talks to whatever
// node it was given, and when the stream breaks every waiting call fails so the caller can
// open a new session (reconnect) and retry what was not answered.

/** A message with a correlation id (every stream request and response). */
export interface Correlated {
  correlationId: bigint;
}

/** An async iterable the session pushes requests into; the transport reads from it. */
class Outbox<T> implements AsyncIterable<T> {
  private queue: T[] = [];
  private wake?: () => void;
  private ended = false;

  push(v: T): void {
    this.queue.push(v);
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const v = this.queue.shift();
      if (v !== undefined) {
        yield v;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

/** Opens the stream: requests go in, responses come out; abort ends it. */
export type Open<Req, Resp> = (requests: AsyncIterable<Req>, signal: AbortSignal) => AsyncIterable<Resp>;

export class StreamSession<Req extends Correlated, Resp extends Correlated> {
  private outbox = new Outbox<Req>();
  private abort = new AbortController();
  private waiting = new Map<bigint, { resolve: (r: Resp) => void; reject: (e: Error) => void }>();
  private broken?: Error;
  private nextId = 1n;

  constructor(open: Open<Req, Resp>) {
    const responses = open(this.outbox, this.abort.signal);
    void (async () => {
      try {
        for await (const r of responses) {
          const w = this.waiting.get(r.correlationId);
          this.waiting.delete(r.correlationId);
          w?.resolve(r);
        }
        this.fail(new Error("the stream ended"));
      } catch (e) {
        this.fail(e instanceof Error ? e : new Error(String(e)));
      }
    })();
  }

  /** A fresh correlation id (0 is kept for setup). */
  id(): bigint {
    return this.nextId++;
  }

  /** Sends req and resolves with the response carrying its correlation id. */
  call(req: Req, timeoutMs = 30_000): Promise<Resp> {
    if (this.broken) return Promise.reject(this.broken);
    return new Promise<Resp>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(req.correlationId);
        reject(new Error(`no answer within ${timeoutMs} ms`));
        this.close(); // a stream that stopped answering is not trusted again
      }, timeoutMs);
      this.waiting.set(req.correlationId, {
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.outbox.push(req);
    });
  }

  /** Ends the stream (active items return to the queue; locks stay until released or ttl). */
  close(): void {
    this.outbox.end();
    this.abort.abort();
    this.fail(new Error("the session was closed"));
  }

  private fail(e: Error): void {
    this.broken ??= e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }
}

/** Parses --name value flags (and bare --flag as "true"). */
export function flags(argv: string[], defaults: Record<string, string>): Record<string, string> {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) continue;
    const name = a.slice(2);
    if (!(name in defaults)) throw new Error(`unknown flag ${a}; known: ${Object.keys(defaults).map((k) => "--" + k).join(" ")}`);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith("--")) out[name] = "true";
    else out[name] = argv[++i];
  }
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Logs one line to stdout with the program's name. */
export function log(program: string, msg: string): void {
  process.stdout.write(`${program}: ${msg}\n`);
}
