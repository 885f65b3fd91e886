"""The llmops eval tests, one per expectation key, from the installed llmops package.

This file only points pytest at them: a check added or fixed in a newer llmops reaches this
project without touching evals/. Tests of your own can sit beside it (see the `llmops_exchange`
fixture, and `@pytest.mark.llmops_check(KEY)` to judge a key your own way).
"""

from llmops.suite import *  # noqa: F403
