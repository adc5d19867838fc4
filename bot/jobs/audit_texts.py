"""What the audit trail says about a job: started, delivered, refunded.

The texts live with the jobs, not in bot/audit/, so the audit trail knows nothing of jobs (it
records text); each event is recorded inside the transaction that makes it true.
"""

from __future__ import annotations

from bot.audit.trail import AuditLog
from bot.db.database import Transaction
from bot.jobs.model import FailureKind, Job
from bot.ledger.types import JournalEntry


def _what(job: Job) -> str:
    """``veo-3.1-fast, 720p, 8 s``: the model id (what the operator's config and bill name)
    and the options it has, without the ones it lacks (Hailuo has no aspect ratio)."""
    options = job.options
    parts = (job.model, options.resolution, f"{options.duration} s" if options.duration else "")
    return ", ".join(part for part in parts if part)


async def job_started(audit: AuditLog, tx: Transaction, job: Job, reserve: JournalEntry) -> int:
    text = (f"🎬 <@{job.user_id}> started job `{job.id}` ({_what(job)}): -{job.price} "
            f"credits. Balance: {reserve.balance_after}.")
    return await audit.record(tx, job.guild_id, text, balance=reserve.balance_after)


async def job_delivered(audit: AuditLog, tx: Transaction, job: Job) -> int:
    if job.delivery_mode == "unconfirmed":
        # Held, not refunded: only a person can see whether the video reached the member.
        text = (f"⚠️ Job `{job.id}` of <@{job.user_id}>: the video may have been posted "
                f"in <#{job.channel_id}> but the bot cannot check (it needs Read Message "
                f"History there). The {job.price} credits were kept; if <@{job.user_id}> "
                "did not get the video, give them back with /budget grant.")
    else:
        text = (f"✅ Job `{job.id}` of <@{job.user_id}> ({job.model}) finished and was "
                f"delivered ({job.delivery_mode}); it cost {job.price} credits.")
    return await audit.record(tx, job.guild_id, text)


async def job_refunded(audit: AuditLog, tx: Transaction, job: Job, refund: JournalEntry) -> int:
    text = (f"↩️ Job `{job.id}` of <@{job.user_id}> failed ({job.failure_kind}): "
            f"{refund.delta} credits refunded. Balance: {refund.balance_after}.")
    if job.failure_kind is FailureKind.TIMEOUT and job.apiframe_job_id is not None:
        # The provider may still finish and bill the operator for a video nobody sees.
        text += (f" Apiframe job `{job.apiframe_job_id}` was still running: the operator"
                 " may be billed for it; reconcile it with Apiframe.")
    return await audit.record(tx, job.guild_id, text, balance=refund.balance_after)
