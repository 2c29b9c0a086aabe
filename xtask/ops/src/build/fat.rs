//! One macOS binary for both architectures (`universal2-apple-darwin`): the two darwin builds'
//! binaries in one fat Mach-O file, laid out as `lipo -create` lays it out.

use anyhow::{bail, Context};
use std::path::Path;

const FAT_MAGIC: u32 = 0xcafe_babe;
const MH_MAGIC_64: u32 = 0xfeed_facf;
/// Each slice starts at a multiple of 2^14 bytes (16 KiB: arm64's page size).
const ALIGN: u32 = 14;

/// Join the thin 64-bit Mach-O binaries at `thin` into the fat binary `out` (executable).
pub fn join(thin: &[&Path], out: &Path) -> anyhow::Result<()> {
    let slices = thin
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bytes = fat(thin, &slices)?;
    let dir = out.parent().context("the fat binary's folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let partial = out.with_extension("fat-partial");
    std::fs::write(&partial, &bytes).with_context(|| format!("writing {}", partial.display()))?;
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&partial, mode)?;
    std::fs::rename(&partial, out).with_context(|| format!("writing {}", out.display()))
}

fn fat(names: &[&Path], slices: &[Vec<u8>]) -> anyhow::Result<Vec<u8>> {
    let aligned = |at: usize| at.div_ceil(1 << ALIGN) << ALIGN;
    let mut header = Vec::new();
    header.extend(FAT_MAGIC.to_be_bytes());
    header.extend((slices.len() as u32).to_be_bytes());
    let mut offset = aligned(8 + 20 * slices.len());
    let mut offsets = Vec::new();
    for (name, slice) in names.iter().zip(slices) {
        let word = |at: usize| u32::from_le_bytes(slice[at..at + 4].try_into().expect("4 bytes"));
        if slice.len() < 12 || word(0) != MH_MAGIC_64 {
            bail!("{} is not a 64-bit Mach-O binary", name.display());
        }
        let (Ok(at), Ok(size)) = (u32::try_from(offset), u32::try_from(slice.len())) else {
            bail!("{}: a fat Mach-O holds at most 4 GiB", name.display());
        };
        // CPU type, and the subtype without its capability bits.
        for value in [word(4), word(8) & 0x00ff_ffff, at, size, ALIGN] {
            header.extend(value.to_be_bytes());
        }
        offsets.push(offset);
        offset = aligned(offset + slice.len());
    }
    let mut out = header;
    for (at, slice) in offsets.into_iter().zip(slices) {
        out.resize(at, 0);
        out.extend_from_slice(slice);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thin(cpu: u32, subtype: u32, len: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for word in [MH_MAGIC_64, cpu, subtype] {
            bytes.extend(word.to_le_bytes());
        }
        bytes.resize(len, 0xab);
        bytes
    }

    #[test]
    fn the_slices_are_aligned_and_named_by_their_cpu() {
        let (x86, arm) = (
            thin(0x0100_0007, 0x8000_0003, 5000),
            thin(0x0100_000c, 0, 70),
        );
        let names = [Path::new("x86"), Path::new("arm")];
        let bytes = fat(&names, &[x86.clone(), arm.clone()]).unwrap();
        let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!((word(0), word(4)), (FAT_MAGIC, 2));
        // cputype, cpusubtype (capabilities masked), offset, size, align.
        let arch = |i: usize| (0..5).map(|k| word(8 + 20 * i + 4 * k)).collect::<Vec<_>>();
        assert_eq!(arch(0), [0x0100_0007, 3, 0x4000, 5000, 14]);
        assert_eq!(arch(1), [0x0100_000c, 0, 0x8000, 70, 14]);
        assert_eq!(&bytes[0x4000..0x4000 + 5000], &x86[..]);
        assert_eq!(&bytes[0x8000..], &arm[..]);
        let err = fat(&names, &[x86, b"#!/bin/sh\nexit 0\n".to_vec()]).unwrap_err();
        assert!(
            format!("{err}").contains("arm is not a 64-bit Mach-O"),
            "{err}"
        );
    }
}
