"""Reliability tests: crashes, full disks, I/O errors, fsck."""
