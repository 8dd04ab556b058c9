#include "cli/interrupts.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <utility>

namespace stampede {
namespace {

// The handler may only do async-signal-safe things: it writes one byte to the guard's pipe.
std::atomic<int> g_signal_fd{-1};
struct sigaction g_old_int;
struct sigaction g_old_term;

void OnSignal(int) {
  const int fd = g_signal_fd.load();
  const char byte = 's';
  if (fd >= 0) (void)!write(fd, &byte, 1);
}

}  // namespace

InterruptGuard::InterruptGuard(std::function<void()> on_first, std::function<void()> on_second)
    : on_first_(std::move(on_first)), on_second_(std::move(on_second)) {
  if (pipe2(pipe_, O_CLOEXEC | O_NONBLOCK) != 0) return;  // no guard: Ctrl-C kills, as before
  g_signal_fd.store(pipe_[1]);
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, &g_old_int);
  sigaction(SIGTERM, &action, &g_old_term);
  watcher_ = std::thread([this] { Watch(); });
}

InterruptGuard::~InterruptGuard() {
  if (pipe_[0] < 0) return;
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
  g_signal_fd.store(-1);
  const char stop = 'q';
  (void)!write(pipe_[1], &stop, 1);
  watcher_.join();
  close(pipe_[0]);
  close(pipe_[1]);
}

void InterruptGuard::Watch() {
  while (true) {
    pollfd p{pipe_[0], POLLIN, 0};
    if (poll(&p, 1, -1) < 0) continue;  // EINTR
    char byte;
    while (read(pipe_[0], &byte, 1) == 1) {
      if (byte == 'q') return;
      const int n = ++signals_;
      if (n == 1) {
        on_first_();
      } else if (n == 2) {
        on_second_();
        std::cout.flush();
        std::cerr.flush();
        std::_Exit(kInterruptedExit);
      }
    }
  }
}

}  // namespace stampede
