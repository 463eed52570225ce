//! Content-Type from the file extension: a built-in table close to what
//! nginx's stock `mime.types` serves, overridable per location with
//! `types`, falling back to `default_type`; `charset` is appended to the
//! text types nginx adds it to.

use std::path::Path;

use crate::config::Settings;

/// Extension -> type, sorted by extension for binary search.
const TABLE: &[(&str, &str)] = &[
    ("3gp", "video/3gpp"),
    ("3gpp", "video/3gpp"),
    ("7z", "application/x-7z-compressed"),
    ("aac", "audio/aac"),
    ("atom", "application/atom+xml"),
    ("avi", "video/x-msvideo"),
    ("avif", "image/avif"),
    ("bin", "application/octet-stream"),
    ("bmp", "image/x-ms-bmp"),
    ("css", "text/css"),
    ("csv", "text/csv"),
    ("deb", "application/octet-stream"),
    ("dll", "application/octet-stream"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("eot", "application/vnd.ms-fontobject"),
    ("epub", "application/epub+zip"),
    ("exe", "application/octet-stream"),
    ("flac", "audio/flac"),
    ("flv", "video/x-flv"),
    ("gif", "image/gif"),
    ("gz", "application/gzip"),
    ("htm", "text/html"),
    ("html", "text/html"),
    ("ico", "image/x-icon"),
    ("ics", "text/calendar"),
    ("iso", "application/octet-stream"),
    ("jar", "application/java-archive"),
    ("jpeg", "image/jpeg"),
    ("jpg", "image/jpeg"),
    ("js", "application/javascript"),
    ("json", "application/json"),
    ("jsonld", "application/ld+json"),
    ("kml", "application/vnd.google-earth.kml+xml"),
    ("m3u8", "application/vnd.apple.mpegurl"),
    ("m4a", "audio/x-m4a"),
    ("m4v", "video/x-m4v"),
    ("manifest", "text/cache-manifest"),
    ("map", "application/json"),
    ("md", "text/markdown"),
    ("mid", "audio/midi"),
    ("midi", "audio/midi"),
    ("mjs", "application/javascript"),
    ("mkv", "video/x-matroska"),
    ("mov", "video/quicktime"),
    ("mp3", "audio/mpeg"),
    ("mp4", "video/mp4"),
    ("mpeg", "video/mpeg"),
    ("mpg", "video/mpeg"),
    ("odp", "application/vnd.oasis.opendocument.presentation"),
    ("ods", "application/vnd.oasis.opendocument.spreadsheet"),
    ("odt", "application/vnd.oasis.opendocument.text"),
    ("oga", "audio/ogg"),
    ("ogg", "audio/ogg"),
    ("ogv", "video/ogg"),
    ("opus", "audio/ogg"),
    ("otf", "font/otf"),
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("ppt", "application/vnd.ms-powerpoint"),
    (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    ("ps", "application/postscript"),
    ("rar", "application/x-rar-compressed"),
    ("rss", "application/rss+xml"),
    ("rtf", "application/rtf"),
    ("svg", "image/svg+xml"),
    ("svgz", "image/svg+xml"),
    ("swf", "application/x-shockwave-flash"),
    ("tar", "application/x-tar"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("ts", "video/mp2t"),
    ("ttf", "font/ttf"),
    ("txt", "text/plain"),
    ("wasm", "application/wasm"),
    ("wav", "audio/wav"),
    ("webm", "video/webm"),
    ("webmanifest", "application/manifest+json"),
    ("webp", "image/webp"),
    ("wmv", "video/x-ms-wmv"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("xhtml", "application/xhtml+xml"),
    ("xls", "application/vnd.ms-excel"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("xml", "text/xml"),
    ("yaml", "application/yaml"),
    ("yml", "application/yaml"),
    ("zip", "application/zip"),
];

/// The types nginx appends `charset` to (its `charset_types` default).
const CHARSET_TYPES: &[&str] = &[
    "text/html",
    "text/xml",
    "text/plain",
    "text/vnd.wap.wml",
    "application/javascript",
    "application/rss+xml",
];

/// The built-in type for a lower-case extension.
pub fn builtin(ext: &str) -> Option<&'static str> {
    TABLE
        .binary_search_by(|(e, _)| (*e).cmp(ext))
        .ok()
        .map(|i| TABLE[i].1)
}

/// The Content-Type value for `path` under `settings`.
pub fn content_type(path: &Path, settings: &Settings) -> String {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let base = ext
        .as_deref()
        .and_then(|e| {
            settings
                .types
                .get(e)
                .map(String::as_str)
                .or_else(|| builtin(e))
        })
        .unwrap_or(settings.default_type.as_str());
    with_charset(base, settings)
}

/// `mime` with `; charset=...` when the settings ask for it and the type
/// is one of the text types.
pub fn with_charset(mime: &str, settings: &Settings) -> String {
    match &settings.charset {
        Some(c) if CHARSET_TYPES.contains(&mime) => format!("{mime}; charset={c}"),
        _ => mime.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn lookups() {
        let mut s = Settings::defaults(Path::new("/"));
        assert_eq!(content_type(Path::new("a.HTML"), &s), "text/html");
        assert_eq!(
            content_type(Path::new("a.unknown"), &s),
            "application/octet-stream"
        );
        assert_eq!(
            content_type(Path::new("noext"), &s),
            "application/octet-stream"
        );
        s.types.insert("unknown".into(), "text/x-u".into());
        s.charset = Some("utf-8".into());
        assert_eq!(content_type(Path::new("a.unknown"), &s), "text/x-u");
        assert_eq!(
            content_type(Path::new("a.txt"), &s),
            "text/plain; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("a.png"), &s), "image/png");
    }
}
