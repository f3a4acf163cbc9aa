// grpcjs-check shows the buf-generated messages (protoc-gen-es) working over @grpc/grpc-js
// too: it creates a queue, then on one QueuesService.Connect stream sets up, enqueues an
// item, pulls it and commits it, checking every answer. Like the other examples it works
// against any node.
//
//   node dist/grpcjs-check.js --addr 127.0.0.1:8080 --queue grpcjs
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { EmptySchema, durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  CreateQueueRequestSchema,
  QueueRequestSchema,
  QueueResponseSchema,
  StatusCode,
  type QueueRequest,
  type QueueResponse,
} from "./gen/protobuf/messages_pb.js";
import { flags, log } from "./stream.js";

const f = flags(process.argv.slice(2), { addr: "127.0.0.1:8080", queue: "grpcjs" });
const say = (m: string) => log("grpcjs-check", m);

/** grpc-js (de)serializers for a protobuf-es message schema. */
function codec<D extends DescMessage>(schema: D) {
  return {
    serialize: (m: MessageShape<D>) => Buffer.from(toBinary(schema, m)),
    deserialize: (b: Buffer) => fromBinary(schema, b),
  };
}

const req = codec(QueueRequestSchema);
const resp = codec(QueueResponseSchema);
const createReq = codec(CreateQueueRequestSchema);
const empty = codec(EmptySchema);
async function main(): Promise<void> {
  const client = new grpc.Client(f.addr, grpc.credentials.createInsecure());
  await new Promise<void>((resolve, reject) =>
    client.makeUnaryRequest(
      "/io.clbs.octopusmq.grpc.management.ManagementService/CreateQueue",
      createReq.serialize,
      empty.deserialize,
      create(CreateQueueRequestSchema, { queueName: f.queue }),
      { deadline: Date.now() + 10_000 },
      (err) => (!err || err.code === grpc.status.ALREADY_EXISTS ? resolve() : reject(err)),
    ),
  );
  const call = client.makeBidiStreamRequest("/io.clbs.octopusmq.grpc.QueuesService/Connect", req.serialize, resp.deserialize, new grpc.Metadata(), { deadline: Date.now() + 30_000 });
  const waiting = new Map<bigint, (r: QueueResponse) => void>();
  call.on("data", (r: QueueResponse) => waiting.get(r.correlationId)?.(r));
  const ended = new Promise<never>((_, reject) => {
    call.on("error", reject);
    call.on("end", () => reject(new Error("the stream ended")));
  });
  const send = (r: QueueRequest) =>
    Promise.race([ended, new Promise<QueueResponse>((resolve) => (waiting.set(r.correlationId, resolve), call.write(r)))]);

  const setup = await send(create(QueueRequestSchema, { correlationId: 0n, command: { case: "setup", value: { queueName: f.queue } } }));
  if (setup.response.case !== "status" || setup.response.value.code !== StatusCode.OK) throw new Error(`setup: ${JSON.stringify(setup.response.value)}`);
  const value = new TextEncoder().encode(`grpc-js ${Date.now()}`);
  const enq = await send(create(QueueRequestSchema, { correlationId: 1n, command: { case: "enqueue", value: { item: { value } } } }));
  if (enq.response.case !== "enqueue") throw new Error(`enqueue: ${JSON.stringify(enq.response.value)}`);
  const id = enq.response.value.id;
  const pull = await send(create(QueueRequestSchema, { correlationId: 2n, command: { case: "pull", value: { batchSize: 1, timeout: durationFromMs(5_000) } } }));
  if (pull.response.case !== "pull" || pull.response.value.items.length !== 1 || pull.response.value.items[0].id !== id) {
    throw new Error(`pull: expected item ${id}, got ${JSON.stringify(pull.response.value, (_, v) => (typeof v === "bigint" ? v.toString() : v))}`);
  }
  if (Buffer.compare(Buffer.from(pull.response.value.items[0].value), Buffer.from(value)) !== 0) throw new Error("pull: the value differs");
  const commit = await send(create(QueueRequestSchema, { correlationId: 3n, command: { case: "commitSingle", value: { id } } }));
  if (commit.response.case !== "commitSingle" || !commit.response.value.committed) throw new Error(`commit: ${JSON.stringify(commit.response.value)}`);
  call.end();
  client.close();
  say(`ok: item ${id} enqueued, pulled and committed over @grpc/grpc-js`);
}

main().catch((e) => {
  console.error(`grpcjs-check: ${e instanceof Error ? e.stack : e}`);
  process.exit(1);
});
