"""The Discord skin over :class:`bot.service.Newsbot`: a ``commands.Bot`` subclass whose cogs ask, list and vote.

No retrieval or answering logic lives here: every question goes to ``Newsbot.answer`` in a worker thread.
"""
