//! Turning ruma's `AuthData` into the service's `UiaStage`.

use ruma::api::client::uiaa::{AuthData, UserIdentifier};

use crate::service::accounts::UiaStage;

pub fn stage(auth: AuthData) -> UiaStage {
    match auth {
        AuthData::Dummy(d) => UiaStage::Dummy { session: d.session },
        AuthData::RegistrationToken(t) => UiaStage::RegistrationToken {
            token: t.token,
            session: t.session,
        },
        AuthData::Password(p) => {
            let user = match &p.identifier {
                UserIdentifier::Matrix(id) => id.user.clone(),
                _ => String::new(),
            };
            UiaStage::Password {
                user,
                password: p.password,
                session: p.session,
            }
        }
        other => UiaStage::Other {
            kind: other.auth_type().map(|t| t.to_string()).unwrap_or_default(),
            session: other.session().map(str::to_owned),
        },
    }
}
