//! Disks: `dd of=/dev/sda`, `mkfs`, `wipefs`, `shred /dev/…`, partition tables,
//! anything written straight onto a block device.

use super::{Findings, split_args};
use crate::Risk;
use crate::invocation::Invocation;
use crate::paths::is_block_device;

/// `cryptsetup` actions that destroy the volume's data.
const CRYPTSETUP_WIPES: &[&str] = &["luksFormat", "erase", "luksErase", "reencrypt"];

pub(super) fn check(inv: &Invocation, out: &mut Findings) {
    for redirect in inv.redirects.iter().filter(|r| r.writes()) {
        if is_block_device(&redirect.target.text) {
            out.add(
                "disk-overwrite",
                Risk::Critical,
                format!("writes straight onto the disk `{}`", redirect.target.text),
            );
        }
    }
    if let Some(program) = inv.program() {
        check_program(inv, program, out);
    }
}

fn check_program(inv: &Invocation, program: &str, out: &mut Findings) {
    let args = inv.args();
    let devices: Vec<&str> = args
        .iter()
        .map(|a| a.text.as_str())
        .filter(|t| is_block_device(t))
        .collect();
    match program {
        "dd" => {
            for target in args.iter().filter_map(|a| a.text.strip_prefix("of=")) {
                if is_block_device(target) {
                    out.add(
                        "dd-device",
                        Risk::Critical,
                        format!("`dd` overwrites the disk `{target}`"),
                    );
                }
            }
        }
        p if p.starts_with("mkfs") || p == "mke2fs" || p == "newfs" => out.add(
            "mkfs",
            Risk::Critical,
            format!("`{p}` creates a new file system, erasing what was there"),
        ),
        "wipefs" | "blkdiscard" => out.add(
            "wipe-disk",
            Risk::Critical,
            format!("`{program}` erases file system signatures or data on a disk"),
        ),
        "shred" | "srm" if !devices.is_empty() => out.add(
            "wipe-disk",
            Risk::Critical,
            format!("`{program}` overwrites the disk `{}`", devices.join("`, `")),
        ),
        "tee" if !devices.is_empty() => out.add(
            "disk-overwrite",
            Risk::Critical,
            format!("`tee` writes onto the disk `{}`", devices.join("`, `")),
        ),
        "cp" | "install" | "mv" if args.last().is_some_and(|l| is_block_device(&l.text)) => {
            out.add(
                "disk-overwrite",
                Risk::Critical,
                format!("`{program}` writes onto a disk device"),
            );
        }
        "mkswap" if !devices.is_empty() => out.add(
            "mkfs",
            Risk::Critical,
            format!(
                "`mkswap` turns `{}` into swap, erasing it",
                devices.join("`, `")
            ),
        ),
        "cryptsetup"
            if args
                .iter()
                .any(|a| CRYPTSETUP_WIPES.contains(&a.text.as_str())) =>
        {
            out.add(
                "wipe-disk",
                Risk::Critical,
                "`cryptsetup` formats or erases an encrypted volume, destroying its data",
            );
        }
        "fdisk" | "sfdisk" | "gdisk" | "cfdisk" | "parted" | "sgdisk" => {
            partition(inv, program, out)
        }
        _ => {}
    }
}

/// Partition editors: listing is fine, writing a table is critical, an interactive
/// session on a disk is high (it writes only when told to).
fn partition(inv: &Invocation, program: &str, out: &mut Findings) {
    let split = split_args(inv.args());
    let option_texts: Vec<&str> = split.options.iter().map(|o| o.text.as_str()).collect();
    let read_only: &[&str] = match program {
        "parted" => &["-l", "--list", "-v", "--version", "-h", "--help"],
        "sgdisk" | "gdisk" => &[
            "-p",
            "--print",
            "-v",
            "--verify",
            "-i",
            "--info",
            "-V",
            "--version",
            "-?",
            "--help",
        ],
        _ => &[
            "-l",
            "--list",
            "-d",
            "--dump",
            "-s",
            "--show-size",
            "-V",
            "--verify",
            "-h",
            "--help",
            "--version",
            "-J",
            "--json",
        ],
    };
    let prints = matches!(
        split.operands.get(1).map(|w| w.text.as_str()),
        Some("print" | "p")
    );
    if option_texts.iter().any(|o| read_only.contains(o)) || prints && split.operands.len() == 2 {
        return;
    }
    let has_device = split.operands.iter().any(|o| is_block_device(&o.text));
    let scripted = match program {
        "sgdisk" => !split.options.is_empty(),
        "parted" => {
            split.operands.len() > 1 || option_texts.iter().any(|o| *o == "-s" || *o == "--script")
        }
        "sfdisk" => true,
        _ => {
            !inv.pipes.iter().all(|p| p.stage == 0)
                || inv.redirects.iter().any(|r| {
                    matches!(
                        r.kind,
                        crate::invocation::RedirectKind::Read
                            | crate::invocation::RedirectKind::Here
                    )
                })
        }
    };
    if scripted && (has_device || program == "sgdisk" || program == "sfdisk") {
        out.add(
            "partition-table",
            Risk::Critical,
            format!("`{program}` rewrites a partition table"),
        );
    } else if has_device || split.operands.is_empty() {
        out.add(
            "partition-table",
            Risk::High,
            format!("`{program}` opens a disk's partition table for editing"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::Risk;
    use crate::rules::test_risk as risk;

    #[test]
    fn writing_to_disk_devices_is_critical() {
        for source in [
            "dd if=/dev/zero of=/dev/sda bs=1M",
            "dd if=x.iso of=/dev/nvme0n1",
            "mkfs.ext4 /dev/sdb1",
            "wipefs -a /dev/sda",
            "shred -n 1 /dev/sda",
            "cat /dev/urandom > /dev/sda",
            "echo x > /dev/mmcblk0",
            "sgdisk --zap-all /dev/sda",
            "parted /dev/sda mklabel gpt",
            "echo -e 'o\\nw' | fdisk /dev/sda",
            "cp disk.img /dev/sdc",
        ] {
            assert_eq!(risk(source), Risk::Critical, "{source}");
        }
    }

    #[test]
    fn reading_disks_and_listing_partitions_is_fine() {
        for source in [
            "dd if=/dev/sda of=disk.img",
            "fdisk -l",
            "parted -l",
            "sgdisk -p /dev/sda",
            "lsblk",
            "dd if=a of=b",
        ] {
            assert_eq!(risk(source), Risk::Safe, "{source}");
        }
    }

    #[test]
    fn interactive_partitioning_is_high() {
        assert_eq!(risk("fdisk /dev/sda"), Risk::High);
    }
}
