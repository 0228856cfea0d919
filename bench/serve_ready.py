"""What `newsbot serve` does before it connects to Discord, for `make bench` to time: ready to answer.

    python -m bench.serve_ready        # settings from the environment (NEWSBOT_DATA_DIR, ...), as `newsbot serve`

`newsbot serve` imports the Discord client, builds the answering service (index and model) and, in the
client's ``setup_hook``, answers one warm-up question before it goes online; everything after that is
Discord's network. This runs the same steps, without a token or a network.
"""

from __future__ import annotations

import time


def main() -> int:
    started = time.perf_counter()
    from bot.cli import _bot
    from bot.discordbot.client import NewsbotClient

    service = _bot()
    client = NewsbotClient(service, service.settings, sync_commands=False)
    client.warm_up()  # (logs a warning if the question fails, as in `newsbot serve`)
    print(f"ready in {time.perf_counter() - started:.2f} s after imports began; {service.store.count()} chunks indexed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
