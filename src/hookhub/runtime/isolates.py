"""The one thread of this process that creates and frees V8 isolates.

mini-racer 0.14 crashes inside V8 (`Isolate::New`, heap teardown) when several threads take turns
creating and freeing isolates. Every isolate hookhub makes — the save-time syntax check
(`runtime.compiler`) and the script sandbox (`runtime.sandbox`) — is therefore born and freed here.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

ISOLATE_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hookhub-v8-isolates")
