//! The content repository: uploads, reserved (asynchronous) uploads, downloads with their
//! security headers, thumbnails and the upload limit.

use http::Method;

use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, Response, UserSession},
    ensure, ensure_eq,
};

const UPLOAD: &str = "/_matrix/media/v3/upload";
const UPLOAD_TO: &str = "/_matrix/media/v3/upload/{serverName}/{mediaId}";
const CREATE: &str = "/_matrix/media/v1/create";
const CONFIG: &str = "/_matrix/client/v1/media/config";
const DOWNLOAD: &str = "/_matrix/client/v1/media/download/{serverName}/{mediaId}";
const DOWNLOAD_AS: &str = "/_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}";
const THUMBNAIL: &str = "/_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}";
const LEGACY_DOWNLOAD: &str = "/_matrix/media/v3/download/{serverName}/{mediaId}";
const LEGACY_THUMBNAIL: &str = "/_matrix/media/v3/thumbnail/{serverName}/{mediaId}";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            uploaded_content_downloads_with_its_type_and_name,
            section = "client-server-api/#get_matrixclientv1mediadownloadservernamemediaid",
            op = ("POST", "/_matrix/media/v3/upload")
        ),
        case!(
            download_as_filename_names_the_file,
            section = "client-server-api/#get_matrixclientv1mediadownloadservernamemediaidfilename",
            op = (
                "GET",
                "/_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}"
            )
        ),
        case!(
            scriptable_types_are_served_as_attachments,
            section = "client-server-api/#serving-inline-content",
            op = (
                "GET",
                "/_matrix/client/v1/media/download/{serverName}/{mediaId}"
            )
        ),
        case!(
            authenticated_downloads_need_a_token,
            section = "client-server-api/#content-repository",
            op = (
                "GET",
                "/_matrix/client/v1/media/download/{serverName}/{mediaId}"
            )
        ),
        case!(
            unknown_and_malformed_media_ids_are_refused,
            section = "client-server-api/#content-repo-security-considerations",
            op = (
                "GET",
                "/_matrix/client/v1/media/download/{serverName}/{mediaId}"
            )
        ),
        case!(
            reserved_upload_is_filled_once_by_its_owner,
            section = "client-server-api/#put_matrixmediav3uploadservernamemediaid",
            op = ("PUT", "/_matrix/media/v3/upload/{serverName}/{mediaId}")
        ),
        case!(
            reserved_media_is_not_yet_uploaded,
            section = "client-server-api/#post_matrixmediav1create",
            op = ("POST", "/_matrix/media/v1/create")
        ),
        case!(
            thumbnails_are_at_least_the_requested_size,
            section = "client-server-api/#thumbnails",
            op = (
                "GET",
                "/_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}"
            )
        ),
        case!(
            small_images_are_not_upscaled,
            section = "client-server-api/#thumbnails",
            op = (
                "GET",
                "/_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}"
            )
        ),
        case!(
            non_images_have_no_thumbnail,
            section = "client-server-api/#get_matrixclientv1mediathumbnailservernamemediaid",
            op = (
                "GET",
                "/_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}"
            )
        ),
        case!(
            media_config_states_the_upload_limit,
            section = "client-server-api/#get_matrixclientv1mediaconfig",
            op = ("GET", "/_matrix/client/v1/media/config")
        ),
        case!(
            uploads_over_the_limit_are_refused,
            section = "client-server-api/#content-repo-security-considerations",
            op = ("POST", "/_matrix/media/v3/upload")
        ),
        case!(
            deprecated_paths_serve_old_clients_or_are_frozen,
            section = "client-server-api/#content-repository",
            op = ("GET", "/_matrix/media/v3/download/{serverName}/{mediaId}")
        ),
    ]
}

/// Uploads `bytes`; returns the (server name, media id) of the `mxc://` URI.
async fn upload(
    ctx: &Ctx,
    user: &UserSession,
    bytes: &[u8],
    content_type: &str,
    filename: Option<&str>,
) -> Result<(String, String), CaseError> {
    let mut request = ctx
        .op(Method::POST, UPLOAD)
        .token(&user.access_token)
        .body(bytes.to_vec(), content_type);
    if let Some(name) = filename {
        request = request.query("filename", name);
    }
    let response = request.send().await?.expect_status(200)?;
    split_mxc(response.json()?["content_uri"].as_str().unwrap_or_default())
}

fn split_mxc(uri: &str) -> Result<(String, String), CaseError> {
    uri.strip_prefix("mxc://")
        .and_then(|rest| rest.split_once('/'))
        .map(|(server, id)| (server.to_owned(), id.to_owned()))
        .ok_or_else(|| CaseError::Fail(format!("not an mxc:// URI: {uri:?}")))
}

async fn download(
    ctx: &Ctx,
    user: &UserSession,
    (server, id): &(String, String),
) -> Result<Response, CaseError> {
    ctx.op(Method::GET, DOWNLOAD)
        .arg(server)
        .arg(id)
        .token(&user.access_token)
        .send()
        .await
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("encoding a PNG in memory");
    bytes
}

fn image_size(bytes: &[u8]) -> Result<(u32, u32), CaseError> {
    image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_dimensions().ok())
        .ok_or_else(|| CaseError::Fail("the thumbnail is not a readable image".to_owned()))
}

/// The disposition type of a `Content-Disposition` header (`inline`, `attachment`).
fn disposition_type(response: &Response) -> String {
    response
        .header("content-disposition")
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The file name a `Content-Disposition` header carries: `filename*` (RFC 8187,
/// `charset'language'percent-encoded`) when present, as RFC 6266 prefers it, else `filename`
/// (a token or a quoted string).
fn disposition_filename(header: &str) -> Option<String> {
    let params: Vec<(String, &str)> = header
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim()))
        .collect();
    if let Some((_, value)) = params.iter().find(|(k, _)| k == "filename*") {
        let encoded = value.splitn(3, '\'').nth(2)?;
        return percent_decode(encoded);
    }
    let (_, value) = params.iter().find(|(k, _)| k == "filename")?;
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(quoted) => Some(quoted.replace("\\\"", "\"").replace("\\\\", "\\")),
        None => Some((*value).to_owned()),
    }
}

fn percent_decode(encoded: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut rest = encoded.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

async fn uploaded_content_downloads_with_its_type_and_name(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("media_up").await?;
    let bob = ctx.register_user("media_reader").await?;
    let body = b"hello, media".to_vec();
    let mxc = upload(&ctx, &alice, &body, "text/plain", Some("hello.txt")).await?;
    // Any user of the server may download it, not only the uploader.
    let got = download(&ctx, &bob, &mxc).await?.expect_status(200)?;
    ensure_eq!(got.body, body, "downloaded bytes");
    // The media type as uploaded; parameters (a charset) may be added.
    ensure_eq!(
        got.header("content-type")
            .map(|t| t.split(';').next().unwrap_or_default().trim()),
        Some("text/plain"),
        "Content-Type"
    );
    let disposition = got.header("content-disposition").unwrap_or_default();
    ensure_eq!(
        disposition_type(&got),
        "inline",
        "disposition of text/plain"
    );
    ensure_eq!(
        disposition_filename(disposition),
        Some("hello.txt".to_owned()),
        "the uploaded file name in Content-Disposition ({disposition})"
    );
    let csp = got.header("content-security-policy").unwrap_or_default();
    ensure!(
        csp.contains("sandbox"),
        "served media carries a sandboxing Content-Security-Policy: {csp:?}"
    );
    ensure_eq!(
        got.header("cross-origin-resource-policy"),
        Some("cross-origin"),
        "Cross-Origin-Resource-Policy"
    );
    Ok(())
}

async fn download_as_filename_names_the_file(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("media_named").await?;
    let (server, id) = upload(&ctx, &alice, b"abc", "text/plain", Some("first.txt")).await?;
    let got = ctx
        .op(Method::GET, DOWNLOAD_AS)
        .arg(&server)
        .arg(&id)
        .arg("other name.txt")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(got.body, b"abc".to_vec(), "downloaded bytes");
    let disposition = got.header("content-disposition").unwrap_or_default();
    ensure_eq!(
        disposition_filename(disposition),
        Some("other name.txt".to_owned()),
        "the path's file name replaces the uploaded one ({disposition})"
    );
    Ok(())
}

async fn scriptable_types_are_served_as_attachments(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("media_html").await?;
    let page = b"<script>alert(1)</script>".to_vec();
    let mxc = upload(&ctx, &alice, &page, "text/html", Some("x.html")).await?;
    let got = download(&ctx, &alice, &mxc).await?.expect_status(200)?;
    ensure_eq!(
        disposition_type(&got),
        "attachment",
        "disposition of text/html"
    );
    let svg = upload(&ctx, &alice, b"<svg/>", "image/svg+xml", None).await?;
    let got = download(&ctx, &alice, &svg).await?.expect_status(200)?;
    ensure_eq!(
        disposition_type(&got),
        "attachment",
        "disposition of image/svg+xml"
    );
    Ok(())
}

async fn authenticated_downloads_need_a_token(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("media_auth").await?;
    let (server, id) = upload(&ctx, &alice, b"secret", "text/plain", None).await?;
    let refused = ctx
        .op(Method::GET, DOWNLOAD)
        .arg(&server)
        .arg(&id)
        .send()
        .await?
        .expect_status(401)?;
    ensure_eq!(
        refused.errcode(),
        Some("M_MISSING_TOKEN"),
        "download without a token"
    );
    let refused = ctx
        .op(Method::POST, UPLOAD)
        .body(b"x".to_vec(), "text/plain")
        .send()
        .await?
        .expect_status(401)?;
    ensure_eq!(
        refused.errcode(),
        Some("M_MISSING_TOKEN"),
        "upload without a token"
    );
    Ok(())
}

async fn unknown_and_malformed_media_ids_are_refused(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("media_unknown").await?;
    let (server, _) = upload(&ctx, &alice, b"x", "text/plain", None).await?;
    let missing = download(
        &ctx,
        &alice,
        &(server.clone(), "NoSuchMedia0123".to_owned()),
    )
    .await?
    .expect_status(404)?;
    ensure_eq!(missing.errcode(), Some("M_NOT_FOUND"), "unknown media id");
    // `..` and `.` are outside the media id alphabet: refused, never resolved as a path.
    let traversal = download(&ctx, &alice, &(server, "..%2F..%2Fetc".to_owned())).await?;
    ensure!(
        matches!(traversal.status, 400 | 404),
        "a media id outside the alphabet is refused, got {}",
        traversal.status
    );
    Ok(())
}

async fn reserved_upload_is_filled_once_by_its_owner(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("media_async").await?;
    let bob = ctx.register_user("media_intruder").await?;
    let created = ctx
        .op(Method::POST, CREATE)
        .token(&alice.access_token)
        .json(&serde_json::json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let mxc = split_mxc(created.json()?["content_uri"].as_str().unwrap_or_default())?;
    let put = |user: &UserSession, bytes: &'static [u8]| {
        ctx.op(Method::PUT, UPLOAD_TO)
            .arg(&mxc.0)
            .arg(&mxc.1)
            .token(&user.access_token)
            .query("filename", "late.txt")
            .body(bytes.to_vec(), "text/plain")
    };
    let stolen = put(&bob, b"not yours").send().await?.expect_status(403)?;
    ensure_eq!(
        stolen.errcode(),
        Some("M_FORBIDDEN"),
        "uploading to another user's reservation"
    );
    put(&alice, b"arrived").send().await?.expect_status(200)?;
    let again = put(&alice, b"twice").send().await?.expect_status(409)?;
    ensure_eq!(
        again.errcode(),
        Some("M_CANNOT_OVERWRITE_MEDIA"),
        "uploading to a filled reservation"
    );
    let got = download(&ctx, &bob, &mxc).await?.expect_status(200)?;
    ensure_eq!(got.body, b"arrived".to_vec(), "the first upload is kept");
    let unknown = ctx
        .op(Method::PUT, UPLOAD_TO)
        .arg(&mxc.0)
        .arg("NeverReserved42")
        .token(&alice.access_token)
        .body(b"x".to_vec(), "text/plain")
        .send()
        .await?
        .expect_status(404)?;
    ensure_eq!(
        unknown.errcode(),
        Some("M_NOT_FOUND"),
        "uploading to an id never reserved"
    );
    Ok(())
}

async fn reserved_media_is_not_yet_uploaded(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("media_pending").await?;
    let created = ctx
        .op(Method::POST, CREATE)
        .token(&alice.access_token)
        .json(&serde_json::json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let json = created.json()?;
    if let Some(expiry) = json.get("unused_expires_at") {
        ensure!(
            expiry.as_i64().is_some_and(|t| t > 0),
            "unused_expires_at is a timestamp: {expiry}"
        );
    }
    let (server, id) = split_mxc(json["content_uri"].as_str().unwrap_or_default())?;
    let waiting = ctx
        .op(Method::GET, DOWNLOAD)
        .arg(&server)
        .arg(&id)
        .query("timeout_ms", "300")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(504)?;
    ensure_eq!(
        waiting.errcode(),
        Some("M_NOT_YET_UPLOADED"),
        "downloading a reservation without content"
    );
    Ok(())
}

async fn thumbnail(
    ctx: &Ctx,
    user: &UserSession,
    (server, id): &(String, String),
    (width, height, method): (u32, u32, &str),
) -> Result<Response, CaseError> {
    ctx.op(Method::GET, THUMBNAIL)
        .arg(server)
        .arg(id)
        .query("width", &width.to_string())
        .query("height", &height.to_string())
        .query("method", method)
        .token(&user.access_token)
        .send()
        .await
}

async fn thumbnails_are_at_least_the_requested_size(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("media_thumb").await?;
    let original = png(1000, 500);
    let mxc = upload(&ctx, &alice, &original, "image/png", Some("wide.png")).await?;
    for (request, method) in [
        ((32, 32), "crop"),
        ((96, 96), "crop"),
        ((320, 240), "scale"),
    ] {
        let got = thumbnail(&ctx, &alice, &mxc, (request.0, request.1, method))
            .await?
            .expect_status(200)?;
        let content_type = got.header("content-type").unwrap_or_default();
        ensure!(
            content_type.starts_with("image/"),
            "a thumbnail is an image, got {content_type:?}"
        );
        let (width, height) = image_size(&got.body)?;
        ensure!(
            width >= request.0 || height >= request.1,
            "{method} {request:?}: a thumbnail is not smaller than asked, got {width}×{height}"
        );
        ensure!(
            width < 1000 && height <= 500,
            "{method} {request:?}: a thumbnail is smaller than the original, got {width}×{height}"
        );
        if method == "crop" {
            ensure_eq!(width, height, "a square crop keeps the requested aspect");
        } else {
            ensure_eq!(width, 2 * height, "scale keeps the original aspect");
        }
    }
    Ok(())
}

async fn small_images_are_not_upscaled(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("media_small").await?;
    let original = png(20, 10);
    let mxc = upload(&ctx, &alice, &original, "image/png", None).await?;
    let got = thumbnail(&ctx, &alice, &mxc, (320, 240, "scale"))
        .await?
        .expect_status(200)?;
    ensure_eq!(
        image_size(&got.body)?,
        (20, 10),
        "an image smaller than the request"
    );
    Ok(())
}

async fn non_images_have_no_thumbnail(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("media_nothumb").await?;
    let text = upload(&ctx, &alice, b"plain words", "text/plain", None).await?;
    let refused = thumbnail(&ctx, &alice, &text, (32, 32, "crop"))
        .await?
        .expect_status(400)?;
    ensure!(
        refused.errcode().is_some(),
        "a thumbnail of text is refused with an errcode"
    );
    // An upload that claims to be an image but is not one.
    let fake = upload(&ctx, &alice, b"definitely not a picture", "image/png", None).await?;
    let refused = thumbnail(&ctx, &alice, &fake, (32, 32, "crop")).await?;
    ensure_eq!(refused.status, 400, "thumbnail of a corrupt image");
    Ok(())
}

async fn media_config_states_the_upload_limit(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("media_config").await?;
    let got = ctx
        .op(Method::GET, CONFIG)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let size = &got.json()?["m.upload.size"];
    ensure!(
        size.as_u64().is_some_and(|n| n > 0),
        "m.upload.size is a positive integer when present: {size}"
    );
    // The deprecated path, which older clients still call, states the same.
    let legacy = ctx
        .op(Method::GET, "/_matrix/media/v3/config")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        &legacy.json()?["m.upload.size"],
        size,
        "the legacy media config"
    );
    Ok(())
}

async fn uploads_over_the_limit_are_refused(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("media_big").await?;
    let config = ctx
        .op(Method::GET, CONFIG)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let Some(limit) = config.json()?["m.upload.size"].as_u64() else {
        return Err(CaseError::Skip(
            "the server states no upload limit".to_owned(),
        ));
    };
    if limit > 16 * 1024 * 1024 {
        return Err(CaseError::Skip(format!(
            "the upload limit ({limit} bytes) is too large to exceed in a test"
        )));
    }
    let too_big = vec![b'x'; limit as usize + 1];
    let refused = ctx
        .op(Method::POST, UPLOAD)
        .token(&alice.access_token)
        .body(too_big, "application/octet-stream")
        .send()
        .await?
        .expect_status(413)?;
    ensure_eq!(
        refused.errcode(),
        Some("M_TOO_LARGE"),
        "an oversized upload"
    );
    Ok(())
}

async fn deprecated_paths_serve_old_clients_or_are_frozen(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("media_legacy").await?;
    let original = png(640, 640);
    let (server, id) = upload(&ctx, &alice, &original, "image/png", None).await?;
    let got = ctx
        .op(Method::GET, LEGACY_DOWNLOAD)
        .arg(&server)
        .arg(&id)
        .send()
        .await?;
    let named = ctx
        .op(
            Method::GET,
            "/_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}",
        )
        .arg(&server)
        .arg(&id)
        .arg("old.png")
        .send()
        .await?;
    match got.status {
        200 => {
            ensure_eq!(got.body, original, "legacy download");
            let named = named.expect_status(200)?;
            ensure_eq!(named.body, original, "legacy download under a file name");
            let disposition = named.header("content-disposition").unwrap_or_default();
            ensure_eq!(
                disposition_filename(disposition),
                Some("old.png".to_owned()),
                "the legacy path's file name ({disposition})"
            );
        }
        // The freeze the spec asks for since v1.12.
        404 => {
            ensure_eq!(got.errcode(), Some("M_NOT_FOUND"), "frozen legacy download");
            ensure_eq!(
                named.status,
                404,
                "frozen legacy download under a file name"
            );
        }
        other => {
            return Err(CaseError::Fail(format!("legacy download answered {other}")));
        }
    }
    let thumb = ctx
        .op(Method::GET, LEGACY_THUMBNAIL)
        .arg(&server)
        .arg(&id)
        .query("width", "96")
        .query("height", "96")
        .query("method", "crop")
        .send()
        .await?;
    if got.status == 200 {
        let thumb = thumb.expect_status(200)?;
        ensure_eq!(image_size(&thumb.body)?, (96, 96), "legacy thumbnail");
    } else {
        ensure_eq!(thumb.status, 404, "legacy thumbnail when frozen");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::disposition_filename;

    #[test]
    fn file_names_are_read_from_either_parameter() {
        let cases = [
            ("inline; filename=\"a b.txt\"", Some("a b.txt")),
            ("inline; filename=plain.txt", Some("plain.txt")),
            (
                "inline; filename*=utf-8''other%20name.txt",
                Some("other name.txt"),
            ),
            (
                "attachment; filename=\"fallback.txt\"; filename*=UTF-8''%E2%82%AC.txt",
                Some("\u{20ac}.txt"),
            ),
            ("inline; filename=\"q\\\"uote.txt\"", Some("q\"uote.txt")),
            ("inline", None),
        ];
        for (header, expected) in cases {
            assert_eq!(
                disposition_filename(header).as_deref(),
                expected,
                "{header}"
            );
        }
    }
}
