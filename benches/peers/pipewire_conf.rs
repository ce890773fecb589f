//! The packaged `minimal.conf` made into the PipeWire the bench measures.

/// The packaged `minimal.conf` made into the peer the issue describes:
/// the sequencer bridge object uncommented, the ALSA PCM adapters and the
/// `vm.overrides` block (min-quantum 1024 in a VM) removed, and the clock
/// forced to 48 kHz at `quantum` (default = min = max).
pub(super) fn pipewire_conf(packaged: &str, quantum: u32) -> Result<String, String> {
    let mut out = String::new();
    let mut skip_depth = 0i32;
    let mut bridge = false;
    let lines: Vec<&str> = packaged.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if skip_depth > 0 {
            skip_depth += brace_balance(line);
            i += 1;
            continue;
        }
        let starts_block = trimmed.starts_with("vm.overrides")
            || (trimmed.starts_with("{ factory = adapter")
                && block_mentions(&lines[i..], "api.alsa.pcm."));
        if starts_block {
            skip_depth = brace_balance(line);
            i += 1;
            continue;
        }
        if trimmed.starts_with('#') && trimmed.contains("api.alsa.seq.bridge") {
            out.push_str(trimmed.trim_start_matches('#'));
            out.push('\n');
            bridge = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
        if trimmed.starts_with("context.properties = {") {
            out.push_str(&format!(
                "    default.clock.rate = 48000\n    default.clock.allowed-rates = [ 48000 ]\n    \
                 default.clock.quantum = {quantum}\n    default.clock.min-quantum = {quantum}\n    \
                 default.clock.max-quantum = {quantum}\n"
            ));
        }
        i += 1;
    }
    if !bridge {
        return Err("the packaged minimal.conf has no api.alsa.seq.bridge object".into());
    }
    Ok(out)
}

/// `{` minus `}` on a line, comments left out.
fn brace_balance(line: &str) -> i32 {
    let code = line.split('#').next().unwrap_or_default();
    code.matches('{').count() as i32 - code.matches('}').count() as i32
}

/// True when the block starting at `lines[0]` contains `needle`.
fn block_mentions(lines: &[&str], needle: &str) -> bool {
    let mut depth = 0;
    for line in lines {
        depth += brace_balance(line);
        if line.contains(needle) {
            return true;
        }
        if depth <= 0 {
            return false;
        }
    }
    false
}
