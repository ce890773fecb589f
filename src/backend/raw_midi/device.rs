//! One open raw MIDI device: its descriptor, framing mode, and reading
//! timestamped bytes from it.
//!
//! In framing mode (`SNDRV_RAWMIDI_MODE_FRAMING_TSTAMP`, Linux 5.14) the
//! kernel writes each chunk of bytes it receives into the read buffer as a
//! 32-byte frame (`struct snd_rawmidi_framing_tstamp`) stamped on
//! `CLOCK_MONOTONIC` when the bytes arrived. The `alsa` crate does not wrap
//! it (nor does alsa-lib on older systems), so the two requests are made as
//! `ioctl`s on the device's own descriptor; the structures are the kernel's
//! ABI (`<sound/asound.h>`). Without framing (an older kernel refuses the
//! protocol version or the mode) bytes are stamped when read.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `struct snd_rawmidi_params`.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawmidiParams {
    stream: i32,
    buffer_size: usize,
    avail_min: usize,
    /// `no_active_sensing:1`, a bit field.
    flags: u32,
    mode: u32,
    reserved: [u8; 12],
}

/// `SNDRV_RAWMIDI_STREAM_INPUT`.
const STREAM_INPUT: i32 = 1;
/// `SNDRV_RAWMIDI_MODE_FRAMING_TSTAMP`.
const MODE_FRAMING_TSTAMP: u32 = 1;
/// `SNDRV_RAWMIDI_MODE_CLOCK_MONOTONIC`.
const MODE_CLOCK_MONOTONIC: u32 = 2 << 3;
/// `SNDRV_PROTOCOL_VERSION(2, 0, 2)`: the first that takes a mode (the
/// kernel clears it for clients that do not say they know it).
const PROTOCOL_2_0_2: i32 = (2 << 16) | 2;

/// Size of `struct snd_rawmidi_framing_tstamp`.
pub(crate) const FRAME: usize = 32;
/// `SNDRV_RAWMIDI_FRAMING_DATA_LENGTH`.
const FRAME_DATA: usize = 16;

/// The kernel's input buffer, bytes: frames take 32 bytes for as few as
/// one MIDI byte, so the default page would hold only 128 of them.
const INPUT_BUFFER: usize = 64 * 1024;

/// `_IOC(dir, 'W', nr, size)`.
const fn ioc(dir: u32, nr: u32, size: usize) -> libc::c_ulong {
    ((dir << 30) | ((size as u32) << 16) | ((b'W' as u32) << 8) | nr) as libc::c_ulong
}
/// `_IOW('W', 0x02, int)`.
const IOCTL_USER_PVERSION: libc::c_ulong = ioc(1, 0x02, std::mem::size_of::<i32>());
/// `_IOWR('W', 0x10, struct snd_rawmidi_params)`.
const IOCTL_PARAMS: libc::c_ulong = ioc(3, 0x10, std::mem::size_of::<RawmidiParams>());

/// How bytes read are stamped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamping {
    /// By the kernel, as they arrived (framing mode).
    Framed,
    /// When read (the kernel has no framing mode).
    ReadTime,
}

/// Why a device could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    /// No such device (not plugged in, module not loaded).
    Missing,
    /// Another program holds it (raw MIDI is exclusive).
    Busy,
    /// Anything else, as text.
    Other(String),
}

/// An open raw MIDI device.
#[derive(Debug)]
pub struct Device {
    fd: OwnedFd,
    /// How its input is stamped.
    pub stamping: Stamping,
    /// Why framing is off, when it is.
    pub framing_error: Option<String>,
    /// Whether it has an output (opened read-write).
    pub writable: bool,
    /// Bytes of a frame cut by a short read, kept for the next.
    partial: [u8; FRAME],
    partial_len: usize,
}

/// `open(2)` of `path` with `flags`, non-blocking.
fn open_node(path: &str, flags: libc::c_int) -> std::io::Result<OwnedFd> {
    let c = std::ffi::CString::new(path).map_err(std::io::Error::other)?;
    // SAFETY: `c` is a valid NUL-terminated path for the call's duration.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_NONBLOCK | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One `ioctl` with `arg` in and out.
fn ioctl<T>(fd: RawFd, request: libc::c_ulong, arg: &mut T) -> std::io::Result<()> {
    // SAFETY: `request`'s size field is `size_of::<T>()` (see `ioc`), so the
    // kernel reads and writes at most the `T` behind the valid, exclusive
    // `arg`; a wrong `fd` only makes the call fail.
    let rc = unsafe { libc::ioctl(fd, request as _, arg as *mut T) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Asks for framed input stamped on `CLOCK_MONOTONIC`.
fn set_framing(fd: RawFd) -> std::io::Result<()> {
    let mut version = PROTOCOL_2_0_2;
    ioctl(fd, IOCTL_USER_PVERSION, &mut version)?;
    let mut p = RawmidiParams {
        stream: STREAM_INPUT,
        buffer_size: INPUT_BUFFER,
        avail_min: 1,
        flags: 0,
        mode: MODE_FRAMING_TSTAMP | MODE_CLOCK_MONOTONIC,
        reserved: [0; 12],
    };
    ioctl(fd, IOCTL_PARAMS, &mut p)
}

impl Device {
    /// Opens the device node `path` (`/dev/snd/midiCcDd`) for input and,
    /// when it has one, output; asks for framing unless `framing` is false.
    ///
    /// # Errors
    /// See [`OpenError`].
    pub fn open(path: &str, framing: bool) -> Result<Self, OpenError> {
        let classify = |e: std::io::Error| match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENODEV | libc::ENXIO) => OpenError::Missing,
            Some(libc::EBUSY) => OpenError::Busy,
            _ => OpenError::Other(e.to_string()),
        };
        let (fd, writable) = match open_node(path, libc::O_RDWR) {
            Ok(fd) => (fd, true),
            // A device with no output: input alone.
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                (open_node(path, libc::O_RDONLY).map_err(classify)?, false)
            }
            Err(e) => return Err(classify(e)),
        };
        let framing_error = if framing {
            set_framing(fd.as_raw_fd()).err().map(|e| e.to_string())
        } else {
            Some("framing not asked for".to_string())
        };
        Ok(Self {
            fd,
            stamping: if framing_error.is_none() {
                Stamping::Framed
            } else {
                Stamping::ReadTime
            },
            framing_error,
            writable,
            partial: [0; FRAME],
            partial_len: 0,
        })
    }

    /// The descriptor, for `poll`.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads what is there into `buf` and hands each run of bytes to
    /// `feed` with its time (`CLOCK_MONOTONIC` ns): the kernel's stamp when
    /// framed, `now_ns` otherwise. Returns the bytes read (0: nothing).
    ///
    /// # Errors
    /// The read failed other than for want of data (`ENODEV`: unplugged).
    pub fn read(
        &mut self,
        buf: &mut [u8],
        now_ns: u64,
        mut feed: impl FnMut(u64, &[u8]),
    ) -> std::io::Result<usize> {
        let keep = self.partial_len;
        buf[..keep].copy_from_slice(&self.partial[..keep]);
        // SAFETY: `buf[keep..]` is valid, writable memory of the length given.
        let n = unsafe {
            libc::read(
                self.raw_fd(),
                buf[keep..].as_mut_ptr().cast(),
                buf.len() - keep,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN | libc::EINTR) => Ok(0),
                _ => Err(e),
            };
        }
        let n = n as usize;
        let have = keep + n;
        match self.stamping {
            Stamping::ReadTime => {
                if n > 0 {
                    feed(now_ns, &buf[..n]);
                }
            }
            Stamping::Framed => {
                let whole = have - have % FRAME;
                for f in buf[..whole].chunks_exact(FRAME) {
                    if let Some((t, bytes)) = parse_frame(f) {
                        feed(t, bytes);
                    }
                }
                self.partial_len = have - whole;
                self.partial[..self.partial_len].copy_from_slice(&buf[whole..have]);
            }
        }
        Ok(n)
    }

    /// Writes as much of `bytes` as the device takes now; returns how many.
    ///
    /// # Errors
    /// The write failed other than for want of room.
    pub fn write(&self, bytes: &[u8]) -> std::io::Result<usize> {
        // SAFETY: `bytes` is valid, readable memory of the length given.
        let n = unsafe { libc::write(self.raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN | libc::EINTR) => Ok(0),
                _ => Err(e),
            };
        }
        Ok(n as usize)
    }
}

/// One frame: its time (ns) and bytes; `None` for a frame type other than
/// 0 (the kernel says to skip unknown ones) or a bad length.
pub(crate) fn parse_frame(f: &[u8]) -> Option<(u64, &[u8])> {
    let (kind, len) = (f[0], usize::from(f[1]));
    if kind != 0 || len > FRAME_DATA {
        return None;
    }
    let nsec = u32::from_ne_bytes(f[4..8].try_into().ok()?);
    let sec = u64::from_ne_bytes(f[8..16].try_into().ok()?);
    let t = sec
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(nsec));
    Some((t, &f[16..16 + len]))
}

/// The programs that have `node` open, as `pid (name)`, as far as this
/// user may see (`/proc/<pid>/fd`).
pub(crate) fn holders(node: &str) -> Vec<String> {
    let target = std::path::Path::new(node);
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let own = std::process::id();
    let mut out = Vec::new();
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let has = fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == target));
        if has {
            let name = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
            let me = if pid == own { ", this process" } else { "" };
            out.push(format!("{pid} ({}{me})", name.trim()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_match_the_kernel_abi() {
        // <sound/asound.h> on x86_64.
        assert_eq!(std::mem::size_of::<RawmidiParams>(), 48);
        assert_eq!(IOCTL_PARAMS, 0xC030_5710);
        assert_eq!(IOCTL_USER_PVERSION, 0x4004_5702);
    }

    #[test]
    fn frames_give_their_time_and_bytes() {
        let mut f = [0u8; FRAME];
        f[1] = 3;
        f[4..8].copy_from_slice(&7u32.to_ne_bytes());
        f[8..16].copy_from_slice(&2u64.to_ne_bytes());
        f[16..19].copy_from_slice(&[0x90, 60, 100]);
        assert_eq!(parse_frame(&f), Some((2_000_000_007, &[0x90, 60, 100][..])));
        f[0] = 1;
        assert_eq!(parse_frame(&f), None, "unknown frame types are skipped");
        f[0] = 0;
        f[1] = 17;
        assert_eq!(parse_frame(&f), None);
    }

    #[test]
    fn a_missing_node_is_missing() {
        assert_eq!(
            Device::open("/dev/snd/midiC99D99", true).unwrap_err(),
            OpenError::Missing
        );
    }
}
