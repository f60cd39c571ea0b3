"""A TCP proxy on 127.0.0.1 that adds a round-trip time: every chunk is forwarded rtt/2 after
it arrived, in each direction. Used by benchmarks to turn elapsed time into round trips.

    with RttProxy(server.host, server.port, rtt=0.05) as proxy:
        ... connect the client to proxy.host, proxy.port ...
        proxy.connections, proxy.bytes_up, proxy.bytes_down, proxy.turns

Each chunk keeps its own deadline (arrival + rtt/2), so back-to-back chunks are not delayed one
after the other: a pipelined burst costs one rtt/2, a lock-step exchange costs rtt per turn
pair. `turns` counts, per connection, how often the direction of traffic changed (the first
chunk counts as one): a client that waits for each reply makes two turns per round trip.
"""
import asyncio
import threading


class RttProxy:
    def __init__(self, target_host, target_port, rtt=0.02, host="127.0.0.1"):
        if rtt < 0:
            raise ValueError("RttProxy rtt must be >= 0 seconds, not %r" % (rtt,))
        self.target = (target_host, target_port)
        self.rtt = rtt
        self.host = host
        self.port = None
        self.reset()
        self._loop = None
        self._thread = None
        self._server = None
        self._tasks = set()

    def reset(self):
        """Zero the counters."""
        self.connections = 0
        self.bytes_up = 0           # client -> server
        self.bytes_down = 0         # server -> client
        self.chunks_up = 0
        self.chunks_down = 0
        self.turns = 0

    def stats(self):
        return {"connections": self.connections, "bytes_up": self.bytes_up,
                "bytes_down": self.bytes_down, "chunks_up": self.chunks_up,
                "chunks_down": self.chunks_down, "turns": self.turns}

    # ---- life cycle

    def start(self):
        ready = threading.Event()
        failure = []

        def run():
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._client, self.host, 0))
                self.port = self._server.sockets[0].getsockname()[1]
            except Exception as e:  # reported to the caller of start()
                failure.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                loop.run_until_complete(asyncio.gather(*self._tasks, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, name="RttProxy", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("RttProxy did not start")
        if failure:
            raise failure[0]
        return self

    def close(self):
        if self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # ---- the proxy

    async def _client(self, client_reader, client_writer):
        task = asyncio.current_task()
        self._tasks.add(task)
        self.connections += 1
        try:
            try:
                server_reader, server_writer = await asyncio.open_connection(*self.target)
            except OSError:
                client_writer.close()
                return
            state = {"last": None}
            up = asyncio.ensure_future(self._pipe(client_reader, server_writer, "up", state))
            down = asyncio.ensure_future(self._pipe(server_reader, client_writer, "down", state))
            try:
                await asyncio.gather(up, down)
            finally:
                up.cancel()
                down.cancel()
                for w in (client_writer, server_writer):
                    w.close()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)

    async def _pipe(self, reader, writer, direction, state):
        loop = asyncio.get_running_loop()
        half = self.rtt / 2.0
        queue = asyncio.Queue()

        async def deliver():
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(deliver())
        try:
            while True:
                try:
                    data = await reader.read(65536)
                except OSError:
                    data = b""
                due = loop.time() + half
                if not data:
                    queue.put_nowait((due, None))
                    break
                if direction == "up":
                    self.bytes_up += len(data)
                    self.chunks_up += 1
                else:
                    self.bytes_down += len(data)
                    self.chunks_down += 1
                if state["last"] != direction:
                    state["last"] = direction
                    self.turns += 1
                queue.put_nowait((due, data))
            await sender
        except OSError:
            pass
        finally:
            sender.cancel()
