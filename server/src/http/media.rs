//! The content repository: uploads on `/_matrix/media/v3`, downloads, thumbnails and config on
//! the authenticated `/_matrix/client/v1/media` paths, and the deprecated unauthenticated
//! `/_matrix/media/v3` downloads (served unless `media.unauthenticated_downloads` is off).
//!
//! Downloads build their own response: the body is the file, and the headers say how a browser
//! may treat it (inline only for types that cannot run script, and a sandboxing CSP always).

#![allow(deprecated)] // The legacy request types are deprecated in ruma, as in the spec.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, header};
use ruma::{
    MilliSecondsSinceUnixEpoch, UInt,
    api::client::{
        authenticated_media as authed,
        media::{
            create_content, create_content_async, create_mxc_uri, get_content,
            get_content_as_filename, get_content_thumbnail, get_media_config,
        },
    },
    http_headers::{ContentDisposition, ContentDispositionType},
};

use super::{AppState, router::Router};
use crate::service::{
    Error,
    accounts::AuthedUser,
    media::{Fetch, MediaContent, is_inline_safe},
    thumbnail::Method,
};

pub fn register(router: &mut Router) {
    router.upload_authed(upload);
    // ruma gives this endpoint's empty response no constructor.
    router.upload_authed_json(upload_reserved);
    router.endpoint_authed(create_mxc);
    router.endpoint_authed(config_legacy);
    router.endpoint_authed(config);
    router.endpoint_authed_raw(download);
    router.endpoint_authed_raw(download_as);
    router.endpoint_authed_raw(thumbnail);
    router.endpoint_raw(download_legacy);
    router.endpoint_raw(download_as_legacy);
    router.endpoint_raw(thumbnail_legacy);
}

/// `POST /_matrix/media/v3/upload`
async fn upload(
    state: AppState,
    user: AuthedUser,
    request: create_content::v3::Request,
) -> Result<create_content::v3::Response, Error> {
    let uri = state
        .services
        .media
        .upload(
            &user,
            Bytes::from(request.file),
            request.content_type,
            request.filename,
        )
        .await?;
    Ok(create_content::v3::Response::new(uri))
}

/// `POST /_matrix/media/v1/create`
async fn create_mxc(
    state: AppState,
    user: AuthedUser,
    _request: create_mxc_uri::v1::Request,
) -> Result<create_mxc_uri::v1::Response, Error> {
    let reservation = state.services.media.reserve(&user).await?;
    let mut response = create_mxc_uri::v1::Response::new(reservation.content_uri);
    response.unused_expires_at = UInt::try_from(reservation.unused_expires_at)
        .ok()
        .map(MilliSecondsSinceUnixEpoch);
    Ok(response)
}

/// `PUT /_matrix/media/v3/upload/{serverName}/{mediaId}`
async fn upload_reserved(
    state: AppState,
    user: AuthedUser,
    request: create_content_async::v3::Request,
) -> Result<serde_json::Value, Error> {
    state
        .services
        .media
        .upload_reserved(
            &user,
            &request.server_name,
            &request.media_id,
            Bytes::from(request.file),
            request.content_type,
            request.filename,
        )
        .await?;
    Ok(serde_json::json!({}))
}

/// `GET /_matrix/client/v1/media/config`
async fn config(
    state: AppState,
    _user: AuthedUser,
    _request: authed::get_media_config::v1::Request,
) -> Result<authed::get_media_config::v1::Response, Error> {
    Ok(authed::get_media_config::v1::Response::new(upload_size(
        &state,
    )))
}

/// `GET /_matrix/media/v3/config` (deprecated; it always required a token)
async fn config_legacy(
    state: AppState,
    _user: AuthedUser,
    _request: get_media_config::v3::Request,
) -> Result<get_media_config::v3::Response, Error> {
    Ok(get_media_config::v3::Response::new(upload_size(&state)))
}

/// `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}`
async fn download(
    state: AppState,
    _user: AuthedUser,
    request: authed::get_content::v1::Request,
) -> Result<http::Response<Bytes>, Error> {
    let fetch = authenticated(request.timeout_ms);
    let content = state
        .services
        .media
        .download(&request.server_name, &request.media_id, fetch)
        .await?;
    Ok(content_response(content, None))
}

/// `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}`
async fn download_as(
    state: AppState,
    _user: AuthedUser,
    request: authed::get_content_as_filename::v1::Request,
) -> Result<http::Response<Bytes>, Error> {
    let fetch = authenticated(request.timeout_ms);
    let content = state
        .services
        .media
        .download(&request.server_name, &request.media_id, fetch)
        .await?;
    Ok(content_response(content, Some(request.filename)))
}

/// `GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}`
async fn thumbnail(
    state: AppState,
    _user: AuthedUser,
    request: authed::get_content_thumbnail::v1::Request,
) -> Result<http::Response<Bytes>, Error> {
    let size = thumbnail_size(request.width, request.height, request.method.as_ref())?;
    let fetch = authenticated(request.timeout_ms);
    let content = state
        .services
        .media
        .thumbnail(&request.server_name, &request.media_id, size, fetch)
        .await?;
    Ok(content_response(content, None))
}

/// `GET /_matrix/media/v3/download/{serverName}/{mediaId}` (deprecated, unauthenticated)
async fn download_legacy(
    state: AppState,
    request: get_content::v3::Request,
) -> Result<http::Response<Bytes>, Error> {
    let fetch = unauthenticated(request.timeout_ms);
    let content = state
        .services
        .media
        .download(&request.server_name, &request.media_id, fetch)
        .await?;
    Ok(content_response(content, None))
}

/// `GET /_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}` (deprecated)
async fn download_as_legacy(
    state: AppState,
    request: get_content_as_filename::v3::Request,
) -> Result<http::Response<Bytes>, Error> {
    let fetch = unauthenticated(request.timeout_ms);
    let content = state
        .services
        .media
        .download(&request.server_name, &request.media_id, fetch)
        .await?;
    Ok(content_response(content, Some(request.filename)))
}

/// `GET /_matrix/media/v3/thumbnail/{serverName}/{mediaId}` (deprecated, unauthenticated)
async fn thumbnail_legacy(
    state: AppState,
    request: get_content_thumbnail::v3::Request,
) -> Result<http::Response<Bytes>, Error> {
    let size = thumbnail_size(request.width, request.height, request.method.as_ref())?;
    let fetch = unauthenticated(request.timeout_ms);
    let content = state
        .services
        .media
        .thumbnail(&request.server_name, &request.media_id, size, fetch)
        .await?;
    Ok(content_response(content, None))
}

fn upload_size(state: &AppState) -> UInt {
    UInt::try_from(state.services.media.max_upload_bytes()).unwrap_or(UInt::MAX)
}

fn authenticated(timeout: Duration) -> Fetch {
    Fetch {
        timeout,
        unauthenticated: false,
    }
}

fn unauthenticated(timeout: Duration) -> Fetch {
    Fetch {
        timeout,
        unauthenticated: true,
    }
}

/// Width, height and method of a thumbnail request. A method the spec does not define is
/// refused rather than guessed at; none at all means `scale`.
fn thumbnail_size(
    width: UInt,
    height: UInt,
    method: Option<&ruma::media::Method>,
) -> Result<(u32, u32, Method), Error> {
    let method = match method {
        None | Some(ruma::media::Method::Scale) => Method::Scale,
        Some(ruma::media::Method::Crop) => Method::Crop,
        Some(other) => {
            return Err(Error::new(
                crate::service::ErrorKind::InvalidParam,
                format!("Unknown thumbnail method {:?}", other.as_str()),
            ));
        }
    };
    let dimension = |v: UInt| u32::try_from(u64::from(v)).unwrap_or(u32::MAX);
    Ok((dimension(width), dimension(height), method))
}

/// Recommended by the spec for everything served from the content repository.
const CONTENT_SECURITY_POLICY: &str = "sandbox; default-src 'none'; script-src 'none'; \
     plugin-types application/pdf; style-src 'unsafe-inline'; object-src 'self';";

fn content_response(content: MediaContent, filename: Option<String>) -> http::Response<Bytes> {
    let content_type = content
        .content_type
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let disposition_type = if is_inline_safe(&content_type) {
        ContentDispositionType::Inline
    } else {
        ContentDispositionType::Attachment
    };
    let disposition =
        ContentDisposition::new(disposition_type).with_filename(filename.or(content.filename));
    let mut response = http::Response::new(content.bytes);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition.to_string()) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    } else {
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment"),
        );
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
