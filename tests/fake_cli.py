"""The real `newsbot` command line with the hashing embedder, for tests that need separate processes.

``python -m tests.fake_cli index build`` runs exactly what ``newsbot index build`` runs (settings from the
environment, the real embedded Chroma, the lock, the messages), only with :class:`tests.fakes.HashEmbedder`
in place of the model: two of them can race in a second instead of loading torch twice.
``NEWSBOT_TEST_EMBED_DELAY`` (seconds per embedding call) stretches a build so that another process overlaps it.
"""

from __future__ import annotations

import os
import time

from bot import cli
from tests.fakes import HashEmbedder


class SlowHashEmbedder(HashEmbedder):
    """The hashing embedder, optionally made to take a while per call."""

    delay = float(os.environ.get("NEWSBOT_TEST_EMBED_DELAY", "0") or 0)

    def embed_documents(self, texts, batch_size=64):
        if self.delay:
            time.sleep(self.delay)
        return super().embed_documents(texts, batch_size)


def _bot(auto_build: bool = True):
    from bot.service import Newsbot

    return Newsbot(embedder=SlowHashEmbedder(), notify=lambda msg: cli.show(cli.err, msg), auto_build=auto_build)


if __name__ == "__main__":
    cli._bot = _bot
    cli.main()
