//! The registries capabilities plug into: **change kinds** (what a governed change does
//! when a second person approves it, and how it is undone) and **job kinds** (background
//! work claimed from the `jobs` table). Core and the change-request mechanism know no
//! capability: each capability implements these traits for its own kinds, and `server/`
//! registers them all at start (`server::kinds()`). An unknown kind is an error, never a
//! silent no-op; registering a kind twice panics at start.
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::authz::{Action, Granted};
use super::db::Tx;
use super::state::AppState;
use super::{AppError, AppResult};
use crate::types::{ChangeRequest, Described, MailboxRoute};

/// What applying a change did.
pub struct Applied {
    /// One sentence for the request's record and the approver's flash message.
    pub summary: String,
    /// The object as the change left it: a rollback refuses when the object no longer
    /// looks like this (someone changed it since).
    pub after: Value,
}

/// One kind of governed change (`mailbox.reset`, `routing.forward`…). Both functions run
/// inside the approving transaction, after the approver was authorized for
/// [`ChangeKind::action`] in the request's tenant, and must re-check the data as it is now:
/// a request may wait for days.
#[async_trait]
pub trait ChangeKind: Send + Sync {
    /// The kind's name as stored in `change_requests.kind`.
    fn kind(&self) -> &'static str;
    /// What whoever decides a request of this kind must hold in its tenant (besides
    /// [`Action::ApproveChanges`]), and whoever asks for its rollback.
    fn action(&self) -> Action;
    /// The action for one request of this kind: [`ChangeKind::action`] unless the kind acts
    /// in two worlds (a person's change is `ManageOperators` for the platform's people and
    /// `InviteTenantUser` for a tenant's).
    fn action_for(&self, _c: &ChangeRequest) -> Action {
        self.action()
    }
    /// The request in words for the people deciding it: one sentence and what it changes,
    /// before and after. The default names the kind and its object.
    fn describe(&self, c: &ChangeRequest) -> Described {
        Described {
            summary: format!("{}: {}", c.kind_label(), c.target_label),
            rows: Vec::new(),
        }
    }
    /// Whether approving `c` is protective — it puts a known-good state back — so that an
    /// incident in force does not freeze it (rollbacks always are).
    fn protective(&self, _c: &ChangeRequest) -> bool {
        false
    }
    /// Refuses an approval without deciding the request (it stays pending), e.g. a bulk DNS
    /// plan that must first be overridden as unsafe. Runs before the approval is recorded.
    async fn precheck(&self, _st: &AppState, _c: &ChangeRequest) -> AppResult<()> {
        Ok(())
    }
    /// Makes the change. `Invalid`/`Conflict` errors mean it no longer fits (the request
    /// fails for good, with the reason kept); other errors leave it pending.
    async fn apply(
        &self,
        st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        c: &ChangeRequest,
        now: i64,
    ) -> AppResult<Applied>;
    /// Undoes the applied change `original`: restores its recorded before-state if the object
    /// still looks as the change left it (`original.after`), otherwise refuses with a
    /// `Conflict` that says what changed. Returns what was done.
    async fn roll_back(
        &self,
        st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        original: &ChangeRequest,
        now: i64,
    ) -> AppResult<String>;
    /// Whether `original` can be rolled back now, without doing it: asked before a rollback
    /// request is queued, so a refusal says at once what changed. The default runs
    /// [`ChangeKind::roll_back`] in the caller's transaction, which the caller throws away;
    /// a kind whose rollback acts outside the database (DNS updates) checks instead.
    async fn can_roll_back(
        &self,
        st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        original: &ChangeRequest,
        now: i64,
    ) -> AppResult<()> {
        self.roll_back(st, tx, g, original, now).await.map(|_| ())
    }
}

/// One kind of background job. `run` is called with a job the worker has claimed; it keeps
/// the heartbeat while it works and marks the job finished (or reschedules a recurring one).
#[async_trait]
pub trait JobKind: Send + Sync {
    /// The kind's name as stored in `jobs.kind`.
    fn kind(&self) -> &'static str;
    /// A recurring job's fixed row id (one row that reschedules itself), if it is one.
    fn recurring(&self) -> Option<&'static str> {
        None
    }
    async fn run(&self, st: &AppState, id: &str, worker: &str) -> AppResult<()>;
}

/// What a capability does when mail that a committed change queued cannot be handed over
/// (see [`crate::core::mailer::deliver`]): the mailboxes capability withdraws the one-time
/// link a lost mail carried, so no live link exists that nobody received.
#[async_trait]
pub trait UnsentMail: Send + Sync {
    /// Acts on the lost `mail` (sent for `by`'s change); returns a sentence saying what it
    /// did, if anything.
    async fn unsent(
        &self,
        st: &AppState,
        by: &super::authz::Actor,
        mail: &super::mailer::Mail,
        e: &AppError,
    ) -> AppResult<Option<String>>;
}

/// What another capability keeps pointing at or from a mailbox, that offboarding ends in its
/// one step (routing: the routes from and to it). The offboarding preview counts it, the
/// offboarding ends it in its transaction, and the verification scan counts it again.
#[async_trait]
pub trait MailboxLinks: Send + Sync {
    /// How the preview and the scan name it ("Routes from or to the mailbox").
    fn what(&self) -> &'static str;
    /// The live ones now, each with what becomes of its mail if offboarding just ends it.
    async fn list(
        &self,
        conn: &mut sqlx::AnyConnection,
        mailbox_id: &str,
        address: &str,
    ) -> AppResult<Vec<MailboxRoute>>;
    /// Ends them inside the offboarding's transaction (audited there); an inbound one named in
    /// `repoint` goes on to that colleague (mailbox id, address) instead. Says what became of each.
    #[allow(clippy::too_many_arguments)]
    async fn end(
        &self,
        st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        mailbox_id: &str,
        address: &str,
        repoint: &[(String, String, String)],
        why: &str,
        now: i64,
    ) -> AppResult<Vec<MailboxRoute>>;
    /// What a lock (suspected compromise) suspends: the mailbox's mail taken elsewhere
    /// (forwards), inside the lock's transaction; says what was suspended.
    async fn suspend(
        &self,
        tx: &mut Tx,
        g: &Granted<'_>,
        address: &str,
        why: &str,
        now: i64,
    ) -> AppResult<Vec<MailboxRoute>>;
}

/// The kinds this server knows.
#[derive(Clone, Default)]
pub struct Registry {
    changes: BTreeMap<&'static str, Arc<dyn ChangeKind>>,
    jobs: BTreeMap<&'static str, Arc<dyn JobKind>>,
    unsent: Vec<Arc<dyn UnsentMail>>,
    mailbox_links: Vec<Arc<dyn MailboxLinks>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a change kind. Panics on a duplicate name (a programming error, found at start).
    pub fn change(mut self, k: impl ChangeKind + 'static) -> Self {
        let name = k.kind();
        assert!(
            self.changes.insert(name, Arc::new(k)).is_none(),
            "change kind {name} registered twice"
        );
        self
    }

    /// Adds a job kind. Panics on a duplicate name.
    pub fn job(mut self, k: impl JobKind + 'static) -> Self {
        let name = k.kind();
        assert!(
            self.jobs.insert(name, Arc::new(k)).is_none(),
            "job kind {name} registered twice"
        );
        self
    }

    /// Adds what to do when queued mail cannot be sent.
    pub fn unsent_mail(mut self, h: impl UnsentMail + 'static) -> Self {
        self.unsent.push(Arc::new(h));
        self
    }
    /// Adds something offboarding must end.
    pub fn mailbox_links(mut self, h: impl MailboxLinks + 'static) -> Self {
        self.mailbox_links.push(Arc::new(h));
        self
    }
    /// What offboarding ends besides the mailbox's own credentials, in the order registered.
    pub fn mailbox_links_all(&self) -> impl Iterator<Item = &dyn MailboxLinks> + '_ {
        self.mailbox_links.iter().map(|h| h.as_ref())
    }
    /// The handlers for unsent mail, in the order registered.
    pub fn unsent_handlers(&self) -> impl Iterator<Item = &dyn UnsentMail> + '_ {
        self.unsent.iter().map(|h| h.as_ref())
    }
    pub fn change_kind(&self, kind: &str) -> AppResult<&dyn ChangeKind> {
        self.changes
            .get(kind)
            .map(|k| k.as_ref())
            .ok_or_else(|| AppError::Internal(format!("unknown change kind {kind}")))
    }

    pub fn job_kind(&self, kind: &str) -> Option<&dyn JobKind> {
        self.jobs.get(kind).map(|k| k.as_ref())
    }

    /// The registered change kinds' names, sorted.
    pub fn change_kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.changes.keys().copied()
    }

    /// The registered job kinds' names, sorted.
    pub fn job_kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.jobs.keys().copied()
    }

    /// The recurring jobs: (row id, kind).
    pub fn recurring(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.jobs
            .values()
            .filter_map(|j| j.recurring().map(|id| (id, j.kind())))
    }
}
