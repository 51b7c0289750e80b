"""A batch's job creation refused with 429: the admission window owns the wait, once.

The account (the emulator's plan limits) is full: the refused creations wait out the
``Retry-After`` in the batch's admission window, and are sent again only after it. The rest of
the session is not paused meanwhile: the accepted jobs are polled, so they are delivered (and
free their places) while the refused creations wait.
"""

from __future__ import annotations

from gladia_async import GladiaSession, PollPolicy
from gladia_async.testing import run_emulator
from gladia_async.testing._limits import AccountLimits

CREATE = "POST /v2/pre-recorded"
POLL = "GET /v2/pre-recorded/{id}"
RETRY_AFTER = 3.0


async def test_a_refused_creation_waits_in_the_window_while_the_batch_keeps_polling() -> None:
    # 2 processing, no queue: of 4 creations sent at once, 2 are refused with Retry-After 3 s.
    plan = AccountLimits(max_processing=2, max_queued=0, retry_after=RETRY_AFTER)
    poll = PollPolicy(interval_initial=0.05, interval_max=0.05)
    async with run_emulator(job_duration=0.3, plan=plan) as emu:
        emulator = emu.emulator
        creations_when_delivered = []
        async with (
            GladiaSession(api_key=emu.api_key, base_url=emu.url, poll=poll) as gladia,
            gladia.transcribe_many([f"{emu.url}/audio/{i}.wav" for i in range(4)]) as outcomes,
        ):
            async for outcome in outcomes:
                assert outcome.ok, outcome.error
                creations_when_delivered.append(emulator.stats.requests_by_route[CREATE])
        requests = list(emulator.requests)
        rejected = emulator.stats.jobs_rejected
    creations = [r.at for r in requests if r.route == CREATE]
    assert rejected == 2 and len(creations) == 6, "each refused creation sent once more"
    first_refusal, resent = creations[2], creations[4]
    # The window waited out the Retry-After before sending again (a lower bound: load only
    # delays), and the session was not paused meanwhile: the accepted jobs were polled and
    # delivered before any refused creation was sent again.
    assert resent - first_refusal >= RETRY_AFTER - 0.1
    paused = (first_refusal + 0.1, first_refusal + RETRY_AFTER - 0.5)
    assert any(paused[0] < r.at < paused[1] for r in requests if r.route == POLL)
    assert creations_when_delivered[:2] == [4, 4], "delivered while the refusals waited"
