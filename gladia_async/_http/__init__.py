"""The transport: everything that touches the network, and the rules that keep the key safe.

``transport``  the Transport: the pool, requests, redirects, the closed / wrong-loop states
``retry``      the one retry loop and the session-wide 429 pause, on one clock (``deadline``)
``failures``   the one table from aiohttp/OS/yarl failures to the SDK's errors, HTTP error answers
``secrets``    the key as a secret value, the key header, scrubbing the key out of errors
``origin``     where the key may go: the API origin, the base URL, redirect targets
``proxies``    which proxy a request goes through (``proxy=`` or the environment's)
``bodies``     reading bodies: the size cap, the error-body skim, decoding into models
``websocket``  the WebSocket handshake, and an open socket's types for the layers above
``watchdog``   the upload stall watchdog; ``protocol``: aiohttp's read timer, armed per stall
``uploads``    audio sources turned into request bodies
"""
