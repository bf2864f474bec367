"""Everything that patches or reads moto's internals (moto 5.2.5), in one place; never shipped to Lambda.

The tests (``tests/conftest.py``), the local stack (``academy up``: :mod:`academy_cli.localstack`,
:mod:`academy_cli.rehearse.run`), its snapshot (:mod:`academy_cli.snapshot`) and the browser tests'
Cognito stage import it by name. ``deployment.zip`` holds only what ``chalice package`` collects
(``app.py``, ``chalicelib/``, ``vendor/`` and requirements.txt), so this top-level package is never in
it. The rehearsal's CloudFormation bridges (``academy_cli/rehearse/shim.py``, ``rehearse/cognito.py``)
patch other parts of moto (API Gateway, CloudFormation, Logs and its Cognito resource types) and stay
there, documented with the rehearsal.

Each patch, the gap it bridges, and how to tell it is still needed:

1. :func:`serialise_dynamodb` (:mod:`emulation.dynamodb`) — moto applies a conditional write as
   read-check-write without a lock, and rolls a failed transaction back by restoring a deep copy of
   each table it touched (undoing other threads' writes). One re-entrant lock around every public
   method of ``DynamoDBBackend`` gives DynamoDB's linearizable semantics. Check: comment the call out
   in ``tests/conftest.py`` and run the concurrent-write tests (``test_incidents.py -k concurrent``,
   ``test_schedules.py -k concurrent``, ``test_tasks.py -k concurrent``); while any fails (or moto's
   ``dynamodb/models/__init__.py`` still takes no lock), it is needed.
2. :func:`install_write_counter` (:mod:`emulation.changes`) — moto has no change feed; the autosave asks
   "anything written since the last save?" by counting completed non-read calls of the DynamoDB and
   S3 backends (SQS is fingerprinted from its messages instead). Needed as long as the autosave skips
   unchanged saves; ``tests/functional/test_snapshot.py::test_change_tracker_sees_writes_not_reads``
   checks that it sees writes and not reads.
3. Reading and writing backends (:mod:`emulation.state`, not a patch) — the snapshot's consistent cut
   (under lock 1), object bytes from moto's buffers, messages in flight and receive counts, which the
   public API cannot give or set. Needed while the snapshot keeps receive counts and one cut; the
   snapshot tests fail when moto renames what this reads (``tables``, ``all_items``, ``attrs``,
   ``FakeKey.lock``/``_value_buffer``, ``Queue._messages``/``_messages_lock``).
4. :func:`install_revoke_token` and :func:`shorten_id_tokens` (:mod:`emulation.cognito`) — moto has no
   Cognito ``RevokeToken`` (the console's sign-out) and issues every token for 3600 s; the browser
   tests need both. Check: ``grep -n "def revoke_token" .venv/lib/python3.12/site-packages/moto/cognitoidp/responses.py``
   (empty: still missing).

Every patch is idempotent or cheap to repeat, and imports moto only when called.
"""

from __future__ import annotations

from emulation.changes import install_write_counter, sqs_fingerprint, writes_seen
from emulation.cognito import install_revoke_token, shorten_id_tokens
from emulation.dynamodb import paused, serialise_dynamodb

__all__ = [
    "install_revoke_token",
    "install_write_counter",
    "paused",
    "serialise_dynamodb",
    "shorten_id_tokens",
    "sqs_fingerprint",
    "writes_seen",
]
