//! The encoders behind on-the-fly compression: gzip (zlib's format, by
//! zlib-rs), brotli and zstd, all at one level scale of 1 (fastest) to 9.
//!
//! gzip level 1 runs zlib-rs at its level 2: zlib-rs's own level 1 is
//! zlib-ng's "deflate_quick", a different trade (static Huffman codes,
//! about a quarter larger than zlib's level 1 on JavaScript), while its
//! level 2 takes zlib's level-1 time and makes smaller files than zlib's
//! level 1 (a 100 KB JavaScript file: 25.9 KB against nginx's 28.1 KB).
//! The output is a function of the input and the level alone (gzip's
//! header carries no time or name), so every worker makes the same bytes
//! for a file version, and one strong entity tag per coding holds.

use std::io::Write;

use super::negotiate::Coding;

/// `data` compressed with `coding` at `level` (1 to 9).
pub fn encode(coding: Coding, level: u32, data: &[u8]) -> std::io::Result<Vec<u8>> {
    let level = level.clamp(1, 9);
    // Room for text that compresses four to one, the usual case.
    let mut out = Vec::with_capacity(data.len() / 4 + 64);
    match coding {
        Coding::Gzip => {
            let zlib = flate2::Compression::new(level.max(2));
            let mut enc = flate2::write::GzEncoder::new(&mut out, zlib);
            enc.write_all(data)?;
            enc.finish()?;
        }
        Coding::Br => {
            let params = brotli::enc::BrotliEncoderParams {
                quality: level as i32,
                // A window as large as the file, up to brotli's 16 MiB: a
                // larger one only costs the decoder memory.
                lgwin: window_bits(data.len()),
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &data[..], &mut out, &params)?;
        }
        Coding::Zstd => {
            zstd::stream::copy_encode(data, &mut out, level as i32)?;
        }
    }
    Ok(out)
}

/// The smallest brotli window (10 to 24 bits) that holds `len` bytes.
fn window_bits(len: usize) -> i32 {
    let mut bits = 10;
    while bits < 24 && (1usize << bits) - 16 < len {
        bits += 1;
    }
    bits
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn text() -> Vec<u8> {
        (0..2000)
            .flat_map(|i| format!("function f{i}(a) {{ return a * {i}; }}\n").into_bytes())
            .collect()
    }

    #[test]
    fn each_coding_round_trips_and_shrinks_text() {
        let data = text();
        for level in [1, 9] {
            let gz = encode(Coding::Gzip, level, &data).expect("gzip");
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut back)
                .expect("gunzip");
            assert_eq!(back, data);
            assert!(gz.len() < data.len() / 3);

            let br = encode(Coding::Br, level, &data).expect("br");
            let mut back = Vec::new();
            brotli::BrotliDecompress(&mut &br[..], &mut back).expect("unbrotli");
            assert_eq!(back, data);

            let zs = encode(Coding::Zstd, level, &data).expect("zstd");
            assert_eq!(zstd::stream::decode_all(&zs[..]).expect("unzstd"), data);
        }
        // The same input makes the same bytes: one entity tag holds.
        assert_eq!(
            encode(Coding::Gzip, 1, &data).expect("gzip"),
            encode(Coding::Gzip, 1, &data).expect("gzip")
        );
        assert!(encode(Coding::Gzip, 1, b"").is_ok());
        assert_eq!(window_bits(0), 10);
        assert_eq!(window_bits(100 << 10), 17);
        assert_eq!(window_bits(1 << 30), 24);
    }
}
