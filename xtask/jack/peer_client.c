/*
 * A small JACK client for `cargo xtask bench`'s peers figures (PipeWire's
 * sequencer bridge under pw-jack, a2jmidid under jackd): one MIDI input
 * port, connected to the first MIDI output port whose name matches a regex.
 * In each process callback it records the callback's wake-up on
 * CLOCK_MONOTONIC with the cycle's frame time and size, and each MIDI
 * event's absolute frame (cycle frame time + offset). Until SIGTERM or
 * SIGINT; then it writes the record and exits. Nothing in the callback
 * allocates, locks or makes a system call but reading the clock.
 *
 * usage: peer_client OUT_FILE PORT_REGEX
 * prints "connected <port>" once connected, "done" once OUT_FILE is written.
 * OUT_FILE lines: "c <frame_time> <nframes> <wake_ns>" per cycle,
 *                 "e <frame> <status> <data1> <data2>" per MIDI event.
 */
#include <jack/jack.h>
#include <jack/midiport.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CYCLES (1 << 20)
#define MAX_EVENTS (1 << 16)

struct cycle { uint32_t frame, nframes; uint64_t wake_ns; };
struct event { uint32_t frame; uint8_t bytes[3]; };

static struct cycle *cycles;
static struct event *events;
static volatile uint32_t n_cycles, n_events, lost_cycles, lost_events;
static jack_port_t *in;
static volatile sig_atomic_t stop;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int process(jack_nframes_t nframes, void *arg) {
    (void)arg;
    uint64_t wake = now_ns();
    jack_nframes_t start = jack_last_frame_time((jack_client_t *)arg);
    if (n_cycles < MAX_CYCLES) {
        cycles[n_cycles] = (struct cycle){start, nframes, wake};
        n_cycles++;
    } else {
        lost_cycles++;
    }
    void *buf = jack_port_get_buffer(in, nframes);
    uint32_t count = jack_midi_get_event_count(buf);
    for (uint32_t i = 0; i < count; i++) {
        jack_midi_event_t ev;
        if (jack_midi_event_get(&ev, buf, i) != 0 || ev.size == 0) continue;
        if (n_events >= MAX_EVENTS) { lost_events++; continue; }
        struct event *e = &events[n_events];
        memset(e->bytes, 0, 3);
        memcpy(e->bytes, ev.buffer, ev.size < 3 ? ev.size : 3);
        e->frame = start + ev.time;
        n_events++;
    }
    return 0;
}

static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s OUT_FILE PORT_REGEX\n", argv[0]);
        return 2;
    }
    cycles = calloc(MAX_CYCLES, sizeof *cycles);
    events = calloc(MAX_EVENTS, sizeof *events);
    if (!cycles || !events) { fprintf(stderr, "out of memory\n"); return 1; }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    jack_status_t status;
    jack_client_t *client = jack_client_open("peer-probe", JackNoStartServer, &status);
    if (!client) { fprintf(stderr, "jack_client_open failed (status 0x%x)\n", status); return 1; }
    in = jack_port_register(client, "in", JACK_DEFAULT_MIDI_TYPE, JackPortIsInput, 0);
    if (!in) { fprintf(stderr, "jack_port_register failed\n"); return 1; }
    jack_set_process_callback(client, process, client);
    if (jack_activate(client)) { fprintf(stderr, "jack_activate failed\n"); return 1; }
    /* The bridge makes its ports when it sees the sequencer port: wait for it. */
    const char *source = NULL;
    for (int tries = 0; tries < 600 && !source && !stop; tries++) {
        const char **ports = jack_get_ports(client, argv[2], JACK_DEFAULT_MIDI_TYPE, JackPortIsOutput);
        if (ports && ports[0]) {
            if (jack_connect(client, ports[0], jack_port_name(in)) == 0) source = strdup(ports[0]);
        }
        if (ports) jack_free(ports);
        if (!source) usleep(50000);
    }
    if (!source) {
        fprintf(stderr, "no MIDI output port matching \"%s\" within 30 s\n", argv[2]);
        return 1;
    }
    printf("connected %s (rate %u, buffer %u)\n", source, jack_get_sample_rate(client),
           jack_get_buffer_size(client));
    fflush(stdout);
    while (!stop) usleep(10000);
    jack_deactivate(client);
    FILE *out = fopen(argv[1], "w");
    if (!out) { perror(argv[1]); return 1; }
    fprintf(out, "r %u\n", jack_get_sample_rate(client));
    for (uint32_t i = 0; i < n_cycles; i++)
        fprintf(out, "c %u %u %llu\n", cycles[i].frame, cycles[i].nframes,
                (unsigned long long)cycles[i].wake_ns);
    for (uint32_t i = 0; i < n_events; i++)
        fprintf(out, "e %u %u %u %u\n", events[i].frame, events[i].bytes[0], events[i].bytes[1],
                events[i].bytes[2]);
    fprintf(out, "lost %u %u\n", lost_cycles, lost_events);
    if (fclose(out)) { perror(argv[1]); return 1; }
    jack_client_close(client);
    printf("done\n");
    fflush(stdout);
    return 0;
}
