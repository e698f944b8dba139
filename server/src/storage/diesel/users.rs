use ::diesel::prelude::*;
use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use super::{Database, schema::users};
use crate::storage::{Error, ErrorKind, NewUser, User, UserStore};

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
struct UserRow {
    user_id: String,
    password_hash: Option<String>,
    is_guest: bool,
    is_admin: bool,
    deactivated: bool,
    created_ts: i64,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUserRow {
    user_id: String,
    password_hash: Option<String>,
    is_guest: bool,
    is_admin: bool,
    deactivated: bool,
    created_ts: i64,
}

impl UserRow {
    fn into_user(self) -> Result<User, Error> {
        let user_id = OwnedUserId::try_from(self.user_id).map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("stored user id is invalid: {e}"),
            )
        })?;
        Ok(User {
            user_id,
            password_hash: self.password_hash,
            is_guest: self.is_guest,
            is_admin: self.is_admin,
            deactivated: self.deactivated,
            created_ts: self.created_ts,
        })
    }
}

#[async_trait]
impl UserStore for Database {
    async fn create_user(&self, user: NewUser) -> Result<(), Error> {
        let row = NewUserRow {
            user_id: user.user_id.to_string(),
            password_hash: user.password_hash,
            is_guest: user.is_guest,
            is_admin: user.is_admin,
            deactivated: false,
            created_ts: user.created_ts,
        };
        self.write(move |conn| diesel::insert_into(users::table).values(&row).execute(conn))
            .await
            .map(|_| ())
    }

    async fn get_user(&self, user_id: &UserId) -> Result<Option<User>, Error> {
        let id = user_id.to_string();
        let row = self
            .read(move |conn| {
                users::table
                    .find(id)
                    .select(UserRow::as_select())
                    .first(conn)
                    .optional()
            })
            .await?;
        row.map(UserRow::into_user).transpose()
    }

    async fn deactivate_user(&self, user_id: &UserId) -> Result<bool, Error> {
        let id = user_id.to_string();
        let updated = self
            .write_tokens(move |conn| {
                diesel::update(users::table.find(id))
                    .set((
                        users::deactivated.eq(true),
                        users::password_hash.eq(None::<String>),
                    ))
                    .execute(conn)
            })
            .await?;
        Ok(updated > 0)
    }

    async fn count_users(&self) -> Result<u64, Error> {
        let n: i64 = self
            .read(|conn| users::table.count().get_result(conn))
            .await?;
        u64::try_from(n).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))
    }

    async fn set_password_hash(
        &self,
        user_id: &UserId,
        hash: Option<String>,
    ) -> Result<bool, Error> {
        let id = user_id.to_string();
        let updated = self
            .write(move |conn| {
                diesel::update(users::table.find(id))
                    .set(users::password_hash.eq(hash))
                    .execute(conn)
            })
            .await?;
        Ok(updated > 0)
    }

    async fn upgrade_guest(&self, user_id: &UserId, hash: Option<String>) -> Result<bool, Error> {
        let id = user_id.to_string();
        let updated = self
            .write_tokens(move |conn| {
                diesel::update(
                    users::table
                        .find(id)
                        .filter(users::is_guest.eq(true))
                        .filter(users::deactivated.eq(false)),
                )
                .set((users::password_hash.eq(hash), users::is_guest.eq(false)))
                .execute(conn)
            })
            .await?;
        Ok(updated > 0)
    }
}
