"""The transactional outbox: every email is a row committed with what causes it.

``queue_email`` adds a row (the whole rendered message, a stable ``Message-ID``)
to the caller's transaction; nothing is sent if that transaction rolls back.
After the commit the new rows are *dispatched*: put on the Redis job queue (RQ)
when one is configured, else delivered in this process (development, tests).

``deliver`` sends one row. It first claims it with a conditional UPDATE
(queued and due, or a claim whose lease ran out), so two workers never send a
row at once; it marks the row ``sent`` only after the server accepted the
message. A worker killed between the server's 250 and that UPDATE leaves a
claim whose lease runs out and the row is sent once more: at most one extra
copy, never a lost email. Temporary failures (no connection, 4xx) are retried
with exponential backoff until ``MAIL_GIVE_UP_SECONDS`` after the email was
caused; a 5xx reply fails it at once. ``failed`` keeps the server's reply.

``sweep`` (run by ``flask --app app worker`` every ``MAIL_SWEEP_SECONDS``)
re-dispatches every row that is due: retries whose backoff has passed, rows
whose enqueue was lost (Redis down at commit), and claims whose worker died.
It also queues the invitation reminders.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import timedelta
from typing import Iterable

from flask import current_app, has_request_context, render_template, request, url_for
from flask_sqlalchemy.session import Session
from sqlalchemy import and_, event, or_, select, update

from . import links, mail, tokens
from .extensions import db
from .models import Company, EmailKind, EmailState, Invitation, OutboxEmail, utcnow

log = logging.getLogger(__name__)

_T = OutboxEmail.__table__
_I = Invitation.__table__

#: Emails about an invitation: their delivery shows on the invitation's card.
INVITATION_KINDS = {EmailKind.INVITATION.value, EmailKind.RESEND.value, EmailKind.REMINDER.value}
#: The reminder goes out this long before an invitation expires.
REMINDER_BEFORE = timedelta(hours=48)

DEFAULTS = {
    "MAIL_RETRY_SECONDS": 30,  # first backoff; doubles per attempt, up to an hour
    "MAIL_GIVE_UP_SECONDS": 24 * 3600,  # after this, a temporary failure is final
    "MAIL_LEASE_SECONDS": 120,  # a claim this old belongs to a dead worker
    "MAIL_SWEEP_SECONDS": 15,
    "MAIL_QUEUE_NAME": "invites-mail",
}


def setting(name: str):
    value = current_app.config.get(name)
    return DEFAULTS[name] if value is None else value


# --- writing -----------------------------------------------------------------


def absolute_url(endpoint: str, **values) -> str:
    """An absolute link for an email, on ``links.public_base()``: never a forged ``Host``.

    Outside a request (the worker, the CLI) the base is ``PUBLIC_URL``, or the
    development server's address.
    """
    if has_request_context():
        return links.public_base().removesuffix(request.script_root) + url_for(endpoint, **values)
    base = current_app.config.get("PUBLIC_URL") or "http://127.0.0.1:5000"
    with current_app.test_request_context(base_url=base):
        return url_for(endpoint, _external=True, **values)


def _message_id() -> str:
    sender = current_app.config.get("MAIL_FROM") or ""
    domain = sender.rpartition("@")[2].strip("> ") or "invites.localhost"
    return f"<{uuid.uuid4().hex}@{domain}>"


def queue_email(
    kind: EmailKind,
    recipient: str,
    subject: str,
    template: str,
    *,
    user_id: int | None = None,
    invitation_id: int | None = None,
    **context,
) -> OutboxEmail:
    """Add an email to the current transaction (``templates/email/<template>.txt`` and ``.html``).

    The caller commits it together with its cause; it is dispatched after that commit.
    """
    context["subject"] = subject
    row = OutboxEmail(
        message_id=_message_id(),
        kind=kind.value,
        recipient=recipient,
        subject=subject,
        body_text=render_template(f"email/{template}.txt", **context),
        body_html=render_template(f"email/{template}.html", **context),
        user_id=user_id,
        invitation_id=invitation_id,
        state=EmailState.QUEUED.value,
        attempts=0,
        created_at=utcnow(),
        next_attempt_at=utcnow(),
    )
    db.session.add(row)
    return row


@event.listens_for(Session, "after_flush")
def _remember_new_rows(session, _flush_context):
    new = [obj.id for obj in session.new if isinstance(obj, OutboxEmail)]
    if new:
        session.info.setdefault("outbox_new", []).extend(new)


@event.listens_for(Session, "after_commit")
def _dispatch_after_commit(session):
    ids = session.info.pop("outbox_new", None)
    if ids:
        dispatch(ids)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session):
    session.info.pop("outbox_new", None)


# --- dispatching -------------------------------------------------------------


def _queue():
    """The RQ queue on ``MAIL_QUEUE_URL`` (default ``REDIS_URL``), or None: deliver in-process."""
    url = current_app.config.get("MAIL_QUEUE_URL") or current_app.config.get("REDIS_URL")
    if not url:
        return None
    from redis import Redis
    from rq import Queue

    connection = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    return Queue(setting("MAIL_QUEUE_NAME"), connection=connection)


def dispatch(ids: Iterable[int]) -> None:
    """Hand committed rows to the job queue, or deliver them here when there is none.

    A failed enqueue loses nothing: the row is committed, and the worker's sweep
    finds it.
    """
    ids = list(ids)
    queue = _queue()
    if queue is None:
        for outbox_id in ids:
            deliver(outbox_id)
        return
    from redis import RedisError

    try:
        for outbox_id in ids:
            queue.enqueue("invites.outbox.deliver_job", outbox_id, result_ttl=0, failure_ttl=24 * 3600)
    except RedisError as exc:
        log.warning("Could not enqueue %d email(s) (%s); the worker's sweep will send them.", len(ids), exc)


def deliver_job(outbox_id: int) -> str:
    """The RQ job: deliver one outbox row (in the worker, inside the app's context)."""
    return deliver(outbox_id)


# --- delivering --------------------------------------------------------------


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(setting("MAIL_RETRY_SECONDS") * 2 ** max(attempts - 1, 0), 3600))


def _claimable(now):
    return or_(
        and_(_T.c.state == EmailState.QUEUED.value, _T.c.next_attempt_at <= now),
        and_(_T.c.state == EmailState.SENDING.value, _T.c.lease_until < now),
    )


def deliver(outbox_id: int) -> str:
    """Send one row if it is due and nobody else holds it; returns what happened."""
    now = utcnow()
    lease = timedelta(seconds=setting("MAIL_LEASE_SECONDS"))
    with db.engine.begin() as conn:
        row = conn.execute(
            update(_T)
            .where(_T.c.id == outbox_id, _claimable(now))
            .values(state=EmailState.SENDING.value, lease_until=now + lease, attempts=_T.c.attempts + 1)
            .returning(*_T.c)
        ).first()
    if row is None:
        return "not due"
    sender = current_app.config.get("MAIL_FROM") or "Invites <invites@localhost>"
    message = mail.build_message(
        sender=sender,
        recipient=row.recipient,
        subject=row.subject,
        text=row.body_text,
        html=row.body_html,
        message_id=row.message_id,
        date=row.created_at,
    )
    outcome = mail.send(mail.parse_mail_url(current_app.config.get("MAIL_URL")), message)
    done = utcnow()
    giving_up = outcome.permanent or done - row.created_at >= timedelta(seconds=setting("MAIL_GIVE_UP_SECONDS"))
    if outcome.sent:
        values = dict(state=EmailState.SENT.value, sent_at=done, lease_until=None, last_error=None)
        card = dict(email_state="sent", email_state_at=done, email_error=None)
        result = "sent"
    elif giving_up:
        values = dict(state=EmailState.FAILED.value, lease_until=None, last_error=outcome.reply or "failed")
        card = dict(email_state="failed", email_state_at=done, email_error=outcome.reply or "failed")
        result = "failed"
        log.warning("Email %s to a recipient failed for good: %s", row.message_id, outcome.reply)
    else:
        values = dict(
            state=EmailState.QUEUED.value,
            lease_until=None,
            last_error=outcome.reply,
            next_attempt_at=done + _backoff(row.attempts),
        )
        card = None
        result = "retry"
        log.info("Email %s not sent yet (%s); trying again later.", row.message_id, outcome.reply)
    with db.engine.begin() as conn:
        # Only while our claim holds: a worker whose lease ran out must not undo another's work.
        changed = conn.execute(
            update(_T)
            .where(_T.c.id == outbox_id, _T.c.state == EmailState.SENDING.value, _T.c.attempts == row.attempts)
            .values(**values)
        ).rowcount
        if changed and card is not None and row.invitation_id is not None and row.kind in INVITATION_KINDS:
            conn.execute(update(_I).where(_I.c.id == row.invitation_id).values(**card))
    return result


# --- the sweep -----------------------------------------------------------------


def due_ids(now=None, limit: int = 500) -> list[int]:
    """Rows to dispatch again: due retries, lost enqueues, claims of dead workers."""
    now = now or utcnow()
    return list(
        db.session.execute(select(_T.c.id).where(_claimable(now)).order_by(_T.c.next_attempt_at).limit(limit)).scalars()
    )


def queue_reminders(now=None) -> int:
    """Queue the 48-hour reminder of each targeted invitation still unused and usable.

    Each reminder is claimed by a conditional UPDATE of ``reminded_at`` in the
    transaction that writes its outbox row: never twice, even with two sweepers.
    Invitations created less than 48 h before their expiry get none (their
    invitation email is the reminder). None while the company has paused all its
    invitations (as Resend): the claim waits, and a resume in time sends it.
    """
    from . import invitations  # the domain module builds the email

    now = now or utcnow()
    open_companies = select(Company.id).where(Company.invitations_paused_at.is_(None))
    candidates = (
        db.session.execute(
            select(Invitation).where(
                Invitation.company_id.in_(open_companies),
                Invitation.email.is_not(None),
                Invitation.reminded_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.is_active,
                Invitation.used_count == 0,
                Invitation.expires_at > now,
                Invitation.expires_at <= now + REMINDER_BEFORE,
            )
        )
        .scalars()
        .all()
    )
    queued = 0
    for invitation in candidates:
        if invitation.expires_at - REMINDER_BEFORE < invitation.created_at:
            continue
        claimed = db.session.execute(
            update(Invitation)
            .where(
                Invitation.id == invitation.id,
                Invitation.reminded_at.is_(None),
                Invitation.company_id.in_(open_companies),
            )
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            db.session.rollback()
            continue
        invitations.queue_invitation_email(invitation, EmailKind.REMINDER)
        db.session.commit()
        queued += 1
    return queued


def sweep() -> tuple[int, int]:
    """One pass: queue due reminders, then dispatch every due row. Returns (reminders, rows)."""
    reminders = queue_reminders()
    ids = due_ids()
    db.session.remove()
    if ids:
        dispatch(ids)
    return reminders, len(ids)


def run_worker(app, *, burst: bool = False) -> None:
    """``flask --app app worker``: an RQ worker on the mail queue, and the sweep beside it.

    ``burst``: one sweep, then the jobs queued, then return (the tests). Without
    a queue configured, the sweep delivers in this process.
    """
    with app.app_context():
        queue = _queue()
    if burst:
        with app.app_context():
            sweep()
            if queue is not None:
                _rq_worker(queue).work(burst=True)
        return
    stop = threading.Event()

    def sweeper():
        while not stop.is_set():
            try:
                with app.app_context():
                    sweep()
            except Exception:  # keep sweeping whatever one pass met (a database restart…)
                log.exception("The outbox sweep failed; trying again.")
            stop.wait(setting_of(app, "MAIL_SWEEP_SECONDS"))

    thread = threading.Thread(target=sweeper, name="outbox-sweeper", daemon=True)
    thread.start()
    try:
        if queue is None:
            log.warning("No REDIS_URL: the worker delivers from the outbox every sweep, without a job queue.")
            while True:
                time.sleep(3600)
        with app.app_context():
            _rq_worker(queue).work()
    finally:
        stop.set()


def setting_of(app, name: str):
    value = app.config.get(name)
    return DEFAULTS[name] if value is None else value


def _rq_worker(queue):
    from rq import SimpleWorker

    # SimpleWorker runs jobs in this process (no fork per job): the app, its
    # engine and its connection pool stay valid, and a job is one SMTP exchange.
    return SimpleWorker([queue], connection=queue.connection)


# --- invitation tokens ---------------------------------------------------------


def invite_token(invitation: Invitation) -> str:
    """The token an invitation email's link carries: proof of reading the target's mailbox."""
    return tokens.make(tokens.Purpose.INVITE, {"i": invitation.id, "e": invitation.email})
