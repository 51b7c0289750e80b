"""Callbacks and webhooks: results pushed to your app, authenticated, de-duplicated, awaited.

Gladia signs neither callbacks nor webhooks, so anyone who can reach the receiving URL could
post a forged ``transcription.success``. A :class:`CallbackReceiver` lets a delivery reach your
handler only when it is authenticated one of two ways:

* **a secret in the URL**: :meth:`CallbackReceiver.callback_url` puts a token (the receiver's
  secret, or a per-job token derived from it by HMAC) in the URL you give Gladia; on receipt it
  is checked in constant time (:func:`hmac.compare_digest`), before the body is read. Works
  for callbacks and for a dashboard webhook URL alike. A per-job token is accepted only for
  the job it was issued for: the job's own callback URL, as the API reports it, is the binding.
* **re-fetching the job** (``verify=True``, needs a session): the receiver asks the API, with
  your key, for the job the body names and passes the delivery on only if the job really is in
  the state the event claims. The handler then gets that fetched job in ``delivery.job`` and
  the event rebuilt from it in ``delivery.event``: never the sender's text. Events a fetch
  cannot confirm (live callback messages, events unknown to this version) are refused.

Deliveries are de-duplicated by ``(job id, event)`` within ``dedupe_window`` seconds: the
handler sees each event once and a duplicate is still answered 2xx so the sender stops
retrying. Malformed bodies get a 400, bodies over ``max_body_bytes`` a 413; unauthenticated
ones a 401 (bad token, or a per-job token of another job), a 403 (no such job, or an event
that cannot be verified) or a 503 (the job is not in the claimed state, so a genuine sender
that raced the API retries); a failing handler a 500 (so the sender retries).

One framework-neutral coroutine, :meth:`CallbackReceiver.receive`, does all of it; the aiohttp
route factory (:meth:`~CallbackReceiver.aiohttp_routes`) and the ASGI app
(:meth:`~CallbackReceiver.asgi_app`, for FastAPI / Starlette) are thin wrappers over it.
:meth:`CallbackReceiver.wait` resolves when a job's callback arrives and falls back to polling,
so a lost callback never loses a result.
"""
