#!/usr/bin/env python3
"""A queue worker for OctopusMQ: pull, process, commit, with reconnect.

It uses stubs generated from the OctopusMQ protos (gen/, see buf.gen.yaml) with grpcio and
knows nothing about leaders: it talks to the address it was given, and when the stream
breaks (a node restarts, leadership moves) it opens a new one to the same address. Items it
pulled but had not committed return to the queue when their stream ends (or their lease
runs out) and are delivered again, so processing must be idempotent: here "processing" is
appending the item's value to --out once (a value already there is not written again).

    python3 worker.py --addr 127.0.0.1:8080 --queue jobs --out done.txt --count 100
"""

import argparse
import os
import queue
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402
from google.protobuf import duration_pb2  # noqa: E402
from protobuf import messages_pb2 as pb  # noqa: E402
from protobuf import queues_management_pb2_grpc as management_grpc  # noqa: E402
from protobuf import queues_pb2_grpc as queues_grpc  # noqa: E402


class StreamBroken(Exception):
    """The stream ended or answered something this worker cannot go on with."""


class Session:
    """One QueuesService.Connect stream: send a request, wait for the response with its
    correlation id (responses may come in any order)."""

    def __init__(self, channel, queue_name):
        self._requests = queue.Queue()
        self._responses = {}
        self._cond = threading.Condition()
        self._broken = None
        self._next_id = 1
        self._call = queues_grpc.QueuesServiceStub(channel).Connect(iter(self._requests.get, None))
        threading.Thread(target=self._read, daemon=True).start()
        setup = self.call(pb.QueueRequest(correlation_id=0, setup=pb.SetupRequest(queue_name=queue_name)))
        if setup.WhichOneof("response") != "status" or setup.status.code != pb.STATUS_CODE_OK:
            self.close()
            raise StreamBroken("setup: %s" % describe(setup))

    def _read(self):
        try:
            for resp in self._call:
                with self._cond:
                    self._responses[resp.correlation_id] = resp
                    self._cond.notify_all()
            err = StreamBroken("the stream ended")
        except grpc.RpcError as e:
            err = StreamBroken("%s: %s" % (e.code().name, e.details()))
        with self._cond:
            self._broken = err
            self._cond.notify_all()

    def call(self, req, timeout=30.0):
        if req.correlation_id == 0 and not req.HasField("setup"):
            req.correlation_id = self._next_id
            self._next_id += 1
        self._requests.put(req)
        deadline = time.monotonic() + timeout
        with self._cond:
            while req.correlation_id not in self._responses:
                if self._broken is not None:
                    raise self._broken
                left = deadline - time.monotonic()
                if left <= 0:
                    self.close()  # a stream that stopped answering is not trusted again
                    raise StreamBroken("no answer within %.0f s" % timeout)
                self._cond.wait(left)
            return self._responses.pop(req.correlation_id)

    def close(self):
        """Ends the stream: items pulled and not committed return to the queue."""
        self._requests.put(None)
        self._call.cancel()


def describe(resp):
    if resp.WhichOneof("response") == "status":
        return "%s %s" % (pb.StatusCode.Name(resp.status.code), resp.status.message)
    return resp.WhichOneof("response")


def seconds(s):
    d = duration_pb2.Duration()
    d.FromMilliseconds(int(s * 1000))
    return d


def create_queue(channel, name):
    try:
        management_grpc.ManagementServiceStub(channel).CreateQueue(pb.CreateQueueRequest(queue_name=name), timeout=10)
        print("worker: created queue %s" % name, flush=True)
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise


class Output:
    """The processed values, one a line in a file; a value is written once."""

    def __init__(self, path):
        self.path = path
        self.done = set()
        if os.path.exists(path):
            with open(path) as f:
                self.done = {line.rstrip("\n") for line in f}

    def process(self, value):
        if value in self.done:
            return False
        with open(self.path, "a") as f:
            f.write(value + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.done.add(value)
        return True


def queue_empty(session):
    """Whether the queue has nothing waiting and nothing active (a linearizable read)."""
    resp = session.call(pb.QueueRequest(get_queue_info=pb.GetQueueInfoRequest()))
    if resp.WhichOneof("response") != "get_queue_info":
        raise StreamBroken("get_queue_info: %s" % describe(resp))
    return resp.get_queue_info.length == 0 and resp.get_queue_info.active == 0


def work(session, out, args):
    """Pulls, processes and commits until --count values are done and the queue is empty.

    The queue must be empty too: an item whose commit went unanswered (its stream broke) may
    still be active, leased to that stream's session until the queue's lease runs out; it is
    then delivered again, found processed, and committed."""
    while True:
        if args.count > 0 and len(out.done) >= args.count and queue_empty(session):
            return
        resp = session.call(pb.QueueRequest(pull=pb.PullRequest(batch_size=args.batch, timeout=seconds(args.wait))), timeout=args.wait + 30)
        kind = resp.WhichOneof("response")
        if kind == "status" and resp.status.code == pb.STATUS_CODE_TIMEOUT or kind == "pull" and not resp.pull.items:
            if args.count <= 0 and queue_empty(session):
                return  # --count 0: drain what is there, then stop
            continue
        if kind != "pull":
            raise StreamBroken("pull: %s" % describe(resp))
        redelivered = 0
        for item in resp.pull.items:
            if not out.process(item.value.decode()):
                redelivered += 1
        ids = [item.id for item in resp.pull.items]
        c = session.call(pb.QueueRequest(commit=pb.CommitRequest(ids=ids)))
        if c.WhichOneof("response") != "commit":
            raise StreamBroken("commit: %s" % describe(c))
        print("worker: processed %d (committed %d of %d, %d seen before)" % (len(out.done), c.commit.ret, len(ids), redelivered), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--addr", default="127.0.0.1:8080", help="any OctopusMQ node's client address")
    p.add_argument("--queue", default="jobs")
    p.add_argument("--out", default="done.txt", help="file the processed values are appended to")
    p.add_argument("--count", type=int, default=0, help="stop once this many distinct values are processed and the queue is empty (0: once it is empty)")
    p.add_argument("--batch", type=int, default=10, help="items per pull")
    p.add_argument("--wait", type=float, default=2.0, help="seconds a pull waits for the first item")
    p.add_argument("--deadline", type=float, default=120.0, help="give up after this many seconds")
    args = p.parse_args()

    out = Output(args.out)
    deadline = time.monotonic() + args.deadline
    channel = grpc.insecure_channel(args.addr)
    attempt, created = 0, False
    while True:
        session = None
        try:
            if not created:
                create_queue(channel, args.queue)
                created = True
            session = Session(channel, args.queue)
            work(session, out, args)
            break
        except (StreamBroken, grpc.RpcError) as e:
            if time.monotonic() > deadline:
                raise
            msg = "%s: %s" % (e.code().name, e.details()) if isinstance(e, grpc.RpcError) else str(e)
            print("worker: reconnecting: %s" % msg, flush=True)
            time.sleep(min(0.2 * 2 ** min(attempt, 4), 2.0))
            attempt += 1
        finally:
            if session is not None:
                session.close()
    channel.close()
    print("worker: done: %d values processed" % len(out.done), flush=True)


if __name__ == "__main__":
    main()
