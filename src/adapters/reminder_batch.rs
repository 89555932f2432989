//! What the database adapters share when they read a batch of reminders with their tasks
//! (`TaskRepository::reminders`): which tasks to fetch, and pairing each reminder with its task.

use std::collections::HashMap;

use crate::domain::TaskId;
use crate::domain::reminder::Reminder;
use crate::domain::task::Task;

/// The distinct tasks the reminders belong to, as the ids to bind.
pub(crate) fn task_ids(reminders: &[Reminder]) -> Vec<i64> {
    let mut ids: Vec<i64> = reminders.iter().map(|r| r.task_id.0).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Each reminder with its task; a reminder whose task is not among `tasks` (deleted between the
/// two reads) is left out.
pub(crate) fn with_their_tasks(
    reminders: Vec<Reminder>,
    tasks: Vec<Task>,
) -> Vec<(Reminder, Task)> {
    let tasks: HashMap<TaskId, Task> = tasks.into_iter().map(|t| (t.id, t)).collect();
    reminders
        .into_iter()
        .filter_map(|r| tasks.get(&r.task_id).map(|t| (r, t.clone())))
        .collect()
}
