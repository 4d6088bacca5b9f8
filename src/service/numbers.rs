//! Users' numbers: the stable integer some clients key users by (a
//! Doubtfire user's `id`). Assigned on first need by an event on the user
//! (`NumberAssigned`), from a block this instance reserved in the
//! `Numbering` stream; kept for good, never reused (numbers of a block an
//! instance stopped before handing out are skipped).

use aggregates::{Numbering, NumberingCommand, NumberingEvent, User, UserCommand, USER_NUMBERS};
use tokio::sync::Mutex;

use crate::service::RequestContext;
use crate::store::Loaded;
use crate::{App, Error};

/// How many numbers an instance reserves at a time.
const BLOCK: u64 = 16;

/// This instance's unused reserved numbers (`next ..= last`).
#[derive(Debug, Default)]
pub struct UserNumbers {
    block: Mutex<(u64, u64)>,
}

impl UserNumbers {
    /// The next number of this instance's block, reserving a block when
    /// the last one is used up.
    async fn next(&self, app: &App, ctx: &RequestContext) -> Result<u64, Error> {
        let mut block = self.block.lock().await;
        if block.0 == 0 || block.0 > block.1 {
            let committed = app
                .store
                .execute::<Numbering>(
                    USER_NUMBERS,
                    NumberingCommand::Reserve { count: BLOCK },
                    &ctx.metadata(),
                )
                .await?;
            let Some(NumberingEvent::NumbersReserved { first, last, .. }) =
                committed.events.into_iter().next()
            else {
                return Err(Error::Internal(anyhow::anyhow!("no numbers reserved")));
            };
            *block = (first, last);
        }
        let number = block.0;
        block.0 += 1;
        Ok(number)
    }
}

/// `user`'s number, assigning one if they have none yet.
pub async fn number_of(app: &App, user: &Loaded<User>, ctx: &RequestContext) -> Result<u64, Error> {
    if let Some(number) = user.state.number() {
        return Ok(number);
    }
    let user_id = user
        .state
        .id()
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("numbering an unregistered user")))?;
    let number = app.user_numbers.next(app, ctx).await?;
    let committed = app
        .store
        .execute::<User>(
            &user_id.to_string(),
            UserCommand::AssignNumber { number },
            &ctx.metadata(),
        )
        .await?;
    // Another request numbered the user first: theirs stands.
    committed
        .state
        .number()
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("user {user_id} has no number")))
}
