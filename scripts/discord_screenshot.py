"""Make ``docs/discord-answer.png``: newsbot answering ``/ask`` in Discord, rendered offline.

The real bot and the real answerer (the bundled model over ``corpus/``) run in simcord's in-memory Discord;
a member asks with ``/ask``; simcord's local preview serves the channel as Discord would draw it, and
Debian's chromium takes a headless screenshot of it. No network, token or Discord server is involved.

Needs the preview extra and a chromium::

    .venv/bin/pip install -e '.[discord-preview]'    # simcord[preview]
    apt-get install chromium
    .venv/bin/python scripts/discord_screenshot.py  [--out docs/discord-answer.png]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "What share of the tungsten joint venture will Cove Capital control?"
WIDTH, HEIGHT = 760, 720  # the message as Discord draws it
WINDOW = (1060, 860)  # the preview page around it


async def capture(out: Path, browser: str, work: Path) -> None:
    import simcord

    from bot.discordbot.client import NewsbotClient
    from bot.service import Newsbot
    from bot.settings import Settings

    shutil.copytree(ROOT / "corpus", work / "corpus")
    settings = Settings(corpus_dir=work / "corpus", data_dir=work / "data", chroma_url=None, cooldown_seconds=0, _env_file=None)
    client = NewsbotClient(Newsbot(settings, notify=lambda msg: print(msg, file=sys.stderr)), settings)
    env = simcord.Env(client)
    env.backend.bot_user.name = "newsbot"  # simcord calls its bot "TestBot" (an internal, not public, attribute)
    await env.start()
    try:
        with env.time_context():
            guild = env.create_guild("Newsroom")
            news = guild.create_text_channel("news")
            alice = guild.add_member(env.create_user("alice", global_name="Alice"))
            result = await alice.slash(news, "ask", question=QUESTION)
            assert result.response is not None, "no answer"
            async with env.preview(news, viewers=[alice], layout="message", display="fixed", width=WIDTH, height=HEIGHT) as preview:
                await preview.show(result)  # the answer, not the thread notice posted after it
                shot = await asyncio.create_subprocess_exec(
                    browser,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--hide-scrollbars",
                    f"--window-size={WINDOW[0]},{WINDOW[1]}",
                    "--virtual-time-budget=5000",  # let the page's scripts fetch and draw the message
                    f"--screenshot={out}",
                    preview.url,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )
                _, err = await shot.communicate()
                if shot.returncode != 0 or not out.exists():
                    raise SystemExit(f"{browser} failed ({shot.returncode}): {err.decode(errors='replace')[-2000:]}")
    finally:
        await env.shutdown()
        client.executor.shutdown(wait=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "discord-answer.png")
    parser.add_argument("--browser", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="newsbot-shot-") as work:
        asyncio.run(capture(args.out.resolve(), args.browser, Path(work)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
