//! Thumbnails, images and downloads. A file is read only for a path found in
//! the store (`lookup`), at the location the store gives (after
//! `viewer.path_mapping`): never at a path as the request wrote it.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, TimestampNanosecondType};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use facet_store::PHOTOS_STORED;

use crate::AppState;
use crate::api::{lookup, params};
use crate::auth::Who;
use crate::error::{ApiError, ApiResult};
use crate::json::filename;
use crate::query::PathParam;

/// Bytes of an image or a file, as the API document names them.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // the schema of the routes' bytes
pub struct Binary(Vec<u8>);

/// The `share` query parameter of the files of a shared album.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by [`crate::auth::guard`]
pub struct ShareParam {
    /// A share link's token (/api/shared): for its album's photos, without
    /// a session.
    share: Option<String>,
}

const FILE_COLUMNS: &[&str] = &[
    "path",
    "format",
    "file_size",
    "file_mtime",
    "thumbnail",
    "thumbnail_path",
];

/// Browser-displayable formats (the stored `format`) and their media types.
fn displayable(format: &str) -> Option<&'static str> {
    match format {
        "jpeg" => Some("image/jpeg"),
        "png" => Some("image/png"),
        "webp" => Some("image/webp"),
        "gif" => Some("image/gif"),
        "bmp" => Some("image/bmp"),
        _ => None,
    }
}

fn str_col<'a>(b: &'a RecordBatch, name: &str) -> Option<&'a str> {
    let c = b.column_by_name(name)?;
    if c.is_null(0) {
        return None;
    }
    match c.data_type() {
        arrow::datatypes::DataType::Utf8 => Some(c.as_string::<i32>().value(0)),
        arrow::datatypes::DataType::LargeUtf8 => Some(c.as_string::<i64>().value(0)),
        _ => None,
    }
}

/// An entity tag from the file's identity: it changes when the photo is
/// re-analysed after an edit.
fn etag(b: &RecordBatch, what: &str) -> Option<String> {
    let size = b.column_by_name("file_size")?;
    let mtime = b.column_by_name("file_mtime")?;
    if size.is_null(0) || mtime.is_null(0) {
        return None;
    }
    let size = size.as_primitive_opt::<Int64Type>()?.value(0);
    let mtime = mtime
        .as_primitive_opt::<TimestampNanosecondType>()?
        .value(0);
    Some(format!("\"{what}-{size:x}-{mtime:x}\""))
}

fn not_modified(headers: &HeaderMap, tag: &Option<String>) -> bool {
    match (headers.get(header::IF_NONE_MATCH), tag) {
        (Some(v), Some(tag)) => v
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim() == tag)),
        _ => false,
    }
}

fn respond(
    bytes: Vec<u8>,
    content_type: &str,
    tag: Option<String>,
    extra: Option<(header::HeaderName, String)>,
) -> Response {
    let mut r = Response::new(Body::from(bytes));
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(v) = tag.and_then(|t| HeaderValue::from_str(&t).ok()) {
        h.insert(header::ETAG, v);
    }
    if let Some((k, v)) = extra
        && let Ok(v) = HeaderValue::from_str(&v)
    {
        h.insert(k, v);
    }
    r
}

fn not_modified_response(tag: Option<String>) -> Response {
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    if let Some(v) = tag.and_then(|t| HeaderValue::from_str(&t).ok()) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// The thumbnail's JPEG: the `thumbnail` column, else the file at
/// `thumbnail_path`.
async fn thumbnail_bytes(b: &RecordBatch) -> ApiResult<Vec<u8>> {
    if let Some(c) = b.column_by_name("thumbnail")
        && !c.is_null(0)
        && let Some(bin) = c.as_binary_opt::<i32>()
    {
        return Ok(bin.value(0).to_vec());
    }
    if let Some(p) = str_col(b, "thumbnail_path") {
        return tokio::fs::read(p).await.map_err(|e| {
            eprintln!("facet serve: thumbnail file {p}: {e}");
            ApiError::NotFound("the photo's thumbnail file is missing".into())
        });
    }
    Err(ApiError::NotFound("the photo has no thumbnail".into()))
}

/// Where the photo's file is on this machine (after `path_mapping`). For a
/// member (or a share link of theirs), the file (links resolved) must lie
/// inside their folders.
async fn local_file(state: &AppState, who: &Who, path: &str) -> ApiResult<std::path::PathBuf> {
    let local = state.settings().local_path(path);
    if let Some(roots) = who.roots() {
        let (file, roots) = (local.clone(), roots.to_vec());
        let inside = tokio::task::spawn_blocking(move || crate::scope::contained(&file, &roots))
            .await
            .unwrap_or(false);
        if !inside {
            eprintln!(
                "facet serve: {} resolves outside the allowed folders; refused",
                local.display()
            );
            return Err(ApiError::NotFound("no such photo".into()));
        }
    }
    Ok(local)
}

/// The photo's original file.
async fn original_bytes(state: &AppState, who: &Who, path: &str) -> ApiResult<Vec<u8>> {
    let local = local_file(state, who, path).await?;
    tokio::fs::read(&local).await.map_err(|e| {
        eprintln!("facet serve: {}: {e}", local.display());
        ApiError::NotFound("the photo's file is missing or unreadable".into())
    })
}

/// Longest side of a converted image: a 4K screen's.
const CONVERTED_SIDE: u32 = 3840;

/// A JPEG of a photo browsers cannot display (HEIC/HEIF and AVIF through
/// libheif, RAW, TIFF, JPEG XL…) at `display.image_jpeg_quality`, at most
/// [`CONVERTED_SIDE`] pixels on its long side, decoded as `facet run`
/// decodes it (EXIF orientation or HEIF transforms applied). `Err` with the
/// reason when it cannot be decoded here (no libheif, a damaged file).
async fn converted_bytes(
    state: &AppState,
    who: &Who,
    path: &str,
) -> ApiResult<Result<Vec<u8>, String>> {
    let local = local_file(state, who, path).await?;
    let quality = state.settings().image_jpeg_quality;
    tokio::task::spawn_blocking(move || {
        let mut d =
            facet_stages::decode::Decoder::new(CONVERTED_SIDE, facet_engine::Budget::new(1 << 30));
        let img = d.decode_file(&local)?;
        facet_stages::thumbnail::encode_jpeg(img.image.as_ref(), quality)
    })
    .await
    .map_err(ApiError::internal)
}

/// `GET /thumbnail?path=`: the photo's JPEG thumbnail (cacheable; ETag).
#[utoipa::path(get, path = "/thumbnail", params(PathParam, ShareParam), responses(
    (status = 200, description = "The thumbnail.", content_type = "image/jpeg", body = Binary),
    (status = 304, description = "Not modified (If-None-Match)."),
))]
pub async fn thumbnail(
    State(state): State<AppState>,
    who: Who,
    headers: HeaderMap,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Response> {
    let p = params(q)?;
    who.check(p.path()?)?;
    let b = lookup(&state, PHOTOS_STORED, p.path()?, Some(FILE_COLUMNS)).await?;
    let tag = etag(&b, "t");
    if not_modified(&headers, &tag) {
        return Ok(not_modified_response(tag));
    }
    let bytes = thumbnail_bytes(&b).await?;
    Ok(respond(bytes, "image/jpeg", tag, None))
}

/// `GET /image?path=`: the original for formats browsers display; other
/// formats (HEIC among them) converted to JPEG (`display.image_jpeg_quality`),
/// else (undecodable files) the thumbnail.
#[utoipa::path(get, path = "/image", params(PathParam, ShareParam), responses(
    (status = 200, description = "The image.", content_type = "image/*", body = Binary),
    (status = 304, description = "Not modified (If-None-Match)."),
))]
pub async fn image(
    State(state): State<AppState>,
    who: Who,
    headers: HeaderMap,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Response> {
    let p = params(q)?;
    let path = p.path()?;
    who.check(path)?;
    let b = lookup(&state, PHOTOS_STORED, path, Some(FILE_COLUMNS)).await?;
    let media = str_col(&b, "format").and_then(displayable);
    let tag = etag(&b, if media.is_some() { "i" } else { "t" });
    if not_modified(&headers, &tag) {
        return Ok(not_modified_response(tag));
    }
    match media {
        Some(media) => Ok(respond(
            original_bytes(&state, &who, path).await?,
            media,
            tag,
            None,
        )),
        None => match converted_bytes(&state, &who, path).await? {
            Ok(jpeg) => Ok(respond(jpeg, "image/jpeg", tag, None)),
            Err(why) => {
                eprintln!("facet serve: {path}: no conversion ({why}); the thumbnail instead");
                Ok(respond(thumbnail_bytes(&b).await?, "image/jpeg", tag, None))
            }
        },
    }
}

/// `Content-Disposition: attachment` with the file name (ASCII fallback and
/// RFC 5987 UTF-8 form).
fn attachment(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// `GET /api/download?path=`: the original file as an attachment.
#[utoipa::path(get, path = "/api/download", params(PathParam, ShareParam), responses(
    (status = 200, description = "The file (Content-Disposition: attachment).", content_type = "application/octet-stream", body = Binary),
))]
pub async fn download(
    State(state): State<AppState>,
    who: Who,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Response> {
    let p = params(q)?;
    let path = p.path()?;
    who.check(path)?;
    let b = lookup(&state, PHOTOS_STORED, path, Some(FILE_COLUMNS)).await?;
    let media = str_col(&b, "format")
        .and_then(displayable)
        .unwrap_or("application/octet-stream");
    let bytes = original_bytes(&state, &who, path).await?;
    Ok(respond(
        bytes,
        media,
        None,
        Some((header::CONTENT_DISPOSITION, attachment(filename(path)))),
    ))
}

#[cfg(test)]
mod tests {
    use axum::http::{StatusCode, header};
    use facet_config::FacetConfig;

    use crate::tests::{enc, fixture_with, get};

    #[tokio::test]
    async fn formats_browsers_cannot_show_are_converted_to_jpeg() {
        let f = fixture_with(FacetConfig::default()).await;
        let uri = format!("/image?path={}", enc(&f.path("c.cr2")));
        // Undecodable bytes: the thumbnail stands in.
        let (s, _, body) = get(&f.app, &uri).await;
        assert_eq!(
            (s, body.as_slice()),
            (StatusCode::OK, &b"\xFF\xD8thumb-c"[..])
        );
        // An 800×600 TIFF joins the library: converted, full size.
        let img = image::RgbImage::from_fn(800, 600, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut tiff = std::io::Cursor::new(Vec::new());
        img.write_to(&mut tiff, image::ImageFormat::Tiff).unwrap();
        std::fs::write(f.lib.join("e.tif"), tiff.into_inner()).unwrap();
        let store = facet_store::Store::open(&f.store_dir).unwrap();
        let row = crate::tests::batch(vec![
            (
                "path",
                std::sync::Arc::new(arrow::array::StringArray::from(vec![f.path("e.tif")])),
            ),
            (
                "format",
                std::sync::Arc::new(arrow::array::StringArray::from(vec!["tiff"])),
            ),
            (
                "file_size",
                std::sync::Arc::new(arrow::array::Int64Array::from(vec![1])),
            ),
            ("file_mtime", crate::tests::ts(1, 1)),
        ]);
        store.upsert(&facet_schemas::photos(), row).await.unwrap();
        let uri = format!("/image?path={}", enc(&f.path("e.tif")));
        let (s, h, body) = get(&f.app, &uri).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h[header::CONTENT_TYPE], "image/jpeg");
        let jpeg = image::load_from_memory_with_format(&body, image::ImageFormat::Jpeg).unwrap();
        assert_eq!((jpeg.width(), jpeg.height()), (800, 600));
        let px = jpeg.to_rgb8().get_pixel(200, 100).0;
        assert!(
            px.iter()
                .zip([200u8, 100, 128])
                .all(|(a, b)| a.abs_diff(b) < 8),
            "{px:?}"
        );
        // The download stays the original file.
        let (_, _, body) = get(
            &f.app,
            &format!("/api/download?path={}", enc(&f.path("e.tif"))),
        )
        .await;
        assert!(
            body.starts_with(b"II*\0") || body.starts_with(b"MM\0*"),
            "a TIFF"
        );
    }
}
