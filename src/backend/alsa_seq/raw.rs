//! The two sequencer requests the `alsa` crate does not wrap, made as
//! `ioctl`s on the client's descriptor: the queue's timer (get/set) and our
//! client's pool counters.
//!
//! Why not alsa-lib's `snd_seq_set_queue_timer` / `snd_seq_get_client_pool`
//! through `alsa_sys`: they take the `snd_seq_t *`, which `alsa::Seq` keeps
//! private. For the `hw` sequencer (the only kind [`super::client::open`]
//! opens) those functions are exactly these `ioctl`s on the same descriptor;
//! the structures are the kernel's ABI (`<sound/asequencer.h>`), and their
//! sizes are checked against alsa-lib's own (`alsa_sys::*_sizeof`) in the tests.

use std::os::fd::RawFd;

/// `struct snd_timer_id`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerId {
    /// `SND_TIMER_CLASS_*`.
    pub dev_class: i32,
    /// `SND_TIMER_SCLASS_*`.
    pub dev_sclass: i32,
    /// Card number, -1 for none.
    pub card: i32,
    /// Device: for the global class, `SND_TIMER_GLOBAL_*`.
    pub device: i32,
    /// Sub-device.
    pub subdevice: i32,
}

/// `struct snd_seq_queue_timer` (its only union member, `alsa`, inlined).
#[repr(C)]
#[derive(Clone, Copy)]
struct SeqQueueTimer {
    queue: i32,
    kind: i32,
    id: TimerId,
    /// Preferred tick frequency, Hz (0: the kernel's default).
    resolution: u32,
    reserved: [u8; 64],
}

/// `struct snd_seq_client_pool`.
#[repr(C)]
#[derive(Clone, Copy)]
struct SeqClientPool {
    client: i32,
    output_pool: i32,
    input_pool: i32,
    output_room: i32,
    output_free: i32,
    input_free: i32,
    reserved: [u8; 64],
}

/// `SNDRV_SEQ_TIMER_ALSA`: the queue runs on an ALSA timer.
pub const SEQ_TIMER_ALSA: i32 = 0;

/// `_IOC` direction bits: the kernel writes the argument back (`_IOR`).
const IOC_READ: u32 = 2;
/// `_IOC` direction bits: the kernel reads the argument (`_IOW`).
const IOC_WRITE: u32 = 1;

/// `_IOC(dir, 'S', nr, sizeof(T))`: the sequencer's request numbers. The
/// kernel matches them exactly, direction included (ENOTTY otherwise).
const fn ioc<T>(dir: u32, nr: u32) -> libc::c_ulong {
    ((dir << 30) | ((std::mem::size_of::<T>() as u32) << 16) | ((b'S' as u32) << 8) | nr)
        as libc::c_ulong
}

/// `_IOW('S', 0x46, struct snd_seq_queue_timer)`.
const IOCTL_SET_QUEUE_TIMER: libc::c_ulong = ioc::<SeqQueueTimer>(IOC_WRITE, 0x46);
/// `_IOWR('S', 0x4b, struct snd_seq_client_pool)`.
const IOCTL_GET_CLIENT_POOL: libc::c_ulong = ioc::<SeqClientPool>(IOC_READ | IOC_WRITE, 0x4b);

/// The sequencer's descriptor (the one `poll` watches: a `hw` client has one).
///
/// # Errors
/// alsa-lib gives no descriptor.
pub fn seq_fd(seq: &alsa::Seq) -> Result<RawFd, String> {
    use alsa::poll::Descriptors;
    (seq, None)
        .get()
        .map_err(|e| format!("getting the sequencer descriptor: {e}"))?
        .first()
        .map(|p| p.fd)
        .ok_or_else(|| "the sequencer has no descriptor".to_string())
}

/// One `ioctl` with `arg` in and out.
fn ioctl<T>(fd: RawFd, request: libc::c_ulong, arg: &mut T) -> std::io::Result<()> {
    // SAFETY: `request` is a sequencer request whose size field is
    // `size_of::<T>()` (see `ioc`), so the kernel reads and writes at most
    // the `T` behind the valid, exclusive `arg`; a wrong `fd` only makes the
    // call fail.
    let rc = unsafe { libc::ioctl(fd, request as _, arg as *mut T) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Asks for `queue` to run on the ALSA timer `id` at `hz` ticks a second
/// (0: the kernel's default). The kernel closes the queue's timer and opens
/// the new one; if that fails, it falls back to the system timer and still
/// succeeds. Only the queue's owner may do this; best before the queue starts.
///
/// # Errors
/// The kernel refused (not our queue, no such queue).
pub fn set_queue_timer(fd: RawFd, queue: i32, id: TimerId, hz: u32) -> std::io::Result<()> {
    let mut t = SeqQueueTimer {
        queue,
        kind: SEQ_TIMER_ALSA,
        id,
        resolution: hz,
        reserved: [0; 64],
    };
    ioctl(fd, IOCTL_SET_QUEUE_TIMER, &mut t)
}

/// Free cells in `client`'s output pool (where events scheduled on a queue
/// wait for their time).
///
/// # Errors
/// The kernel refused (no such client).
pub fn output_free(fd: RawFd, client: i32) -> std::io::Result<u32> {
    let mut p = SeqClientPool {
        client,
        output_pool: 0,
        input_pool: 0,
        output_room: 0,
        output_free: 0,
        input_free: 0,
        reserved: [0; 64],
    };
    ioctl(fd, IOCTL_GET_CLIENT_POOL, &mut p)?;
    Ok(p.output_free.max(0) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structures_match_alsa_lib() {
        // SAFETY: plain size queries with no arguments.
        let (timer, pool) = unsafe {
            (
                alsa_sys::snd_seq_queue_timer_sizeof(),
                alsa_sys::snd_seq_client_pool_sizeof(),
            )
        };
        assert_eq!(std::mem::size_of::<SeqQueueTimer>(), timer);
        assert_eq!(std::mem::size_of::<SeqClientPool>(), pool);
        // The numbers of <sound/asequencer.h> on x86_64, as alsa-lib uses them.
        assert_eq!(IOCTL_SET_QUEUE_TIMER, 0x4060_5346);
        assert_eq!(IOCTL_GET_CLIENT_POOL, 0xC058_534B);
    }
}
