// mrlog.hpp -- a header-only C++17 wrapper over mrlog.h: an RAII log
// handle, std::future results, lambdas as completion callbacks and range
// visitors, and exceptions for the calls that have no future to carry an
// error.
//
//   #include <mrlog.hpp>
//   mrlogpp::log log("/var/lib/app/log");             // throws mrlogpp::error
//   log.create_queue("orders").get();
//   auto f = log.append("orders", "payload", [](int status, uint64_t pos) {
//     /* on mrlog's flusher thread: must not block */
//   });
//   mrlogpp::result r = f.get();                       // r.status, r.position
//   log.range("orders", [](uint64_t pos, std::string_view payload) { ... });
//
// THE NAMESPACE is mrlogpp, not mrlog: mrlog.h declares `struct mrlog`
// (and `typedef struct mrlog mrlog`) at global scope, and C++ forbids a
// namespace with the same name as a class in the same scope.
//
// COMPLETION.  Every mutation (create_queue, delete_queue, append,
// append_batch, truncate, commit, remove_consumer, sync, and the waits
// watch and cursor::wait) follows mrlog's completion rule: it
// completes exactly once, on a library thread (the flusher), also when it
// fails at submit time.  The wrapper then, in this order:
//   1. calls the optional callable, as f(status, position) or f(result),
//      on that library thread;
//   2. makes the returned future (a std::future<result>) ready with the
//      status and position -- or, if the callable threw, with that
//      exception instead (get() rethrows it; the operation itself is not
//      undone: the record is written or not according to status, which
//      the callable saw);
//   3. destroys the callable, still on the library thread.
// (ThreadSanitizer cannot see libstdc++'s reference counts on exception
// objects, so it may report the destruction of such an exception, inside
// std::__future_base::_Result_base::_Deleter, as a race with the catch
// handler: a false positive; tests/cxx_wrapper_test.cc suppresses it.)
// No exception ever crosses into C.  Errors are statuses in the result
// (MRLOG_ENOQUEUE, MRLOG_EEXIST, MRLOG_DUPLICATE, ...), never exceptions,
// except std::bad_alloc thrown by the mutation call itself before anything
// was submitted.
//
// LIFETIME.  The callable is moved into a heap block that mrlog owns from
// the C call until the completion, which runs exactly once and frees it;
// the callable itself may be move-only.  What it captures by reference
// must outlive the completion: closing the log (or destroying it)
// completes every pending mutation first, so objects that outlive the log
// object are always safe.
//
// THREADS.  As in mrlog.h: every call may be made from any thread at
// once, except close(), move assignment and destruction, which must not
// race with other calls on the same log.  Inside a callable (which runs
// on a library thread):
//   - never wait on a future of the same log that is not ready: the
//     flusher would wait for itself.  mrlogpp::future::get() throws
//     mrlogpp::error(MRLOG_EINVAL) there instead, as the C mrlog_wait
//     returns MRLOG_EINVAL (std::future's own wait calls cannot check:
//     never use them there); mrlog_on_library_thread() tells;
//   - never close or destroy the log;
//   - mutations may be called: they complete later, and one that would
//     block (full ring or memory limit) completes with MRLOG_EFULL.
//
// CURSORS.  log::cursor(queue, from) opens an mrlogpp::cursor, an input
// range over the queue's visible records from `from` on (mrlog_cursor_*):
//   for (const mrlogpp::record &r : cur) use(r.position, r.data);
// reads up to the visible end and stops; a later loop goes on from there.
// A record's data is valid until the cursor moves on (the next ++, next(),
// seek(), or the cursor's destruction).  A deleted queue or a closed log
// throws mrlogpp::error (MRLOG_ENOQUEUE, MRLOG_ECLOSED) from the loop.
// One thread at a time per cursor; a cursor may outlive its log (its
// reads then throw MRLOG_ECLOSED).
//
// ALLOCATION.  Which calls allocate on the heap:
//   - the constructor (mrlog_open does; the message of a thrown error);
//   - every mutation: one block holding the callable and the promise, plus
//     the promise's shared state (two allocations), besides what mrlog
//     itself does (its futures are pooled; small appends are staged);
//   - append_batch: also a std::vector<iovec> for more than 16 records;
//   - list_queues, list_consumers: the vector and its strings;
//   - cursor(): mrlog_cursor_open's cursor (its reads allocate nothing);
//   - any call that throws: the exception's message.
// Queue names are copied to a stack buffer (MRLOG_QUEUE_NAME_MAX + 1
// bytes) to be NUL-terminated, and so are consumer names; range, exists,
// queue_info, committed and stats allocate nothing.  A name longer than MRLOG_QUEUE_NAME_MAX or holding a
// NUL byte is passed on as "" so that mrlog rejects it (MRLOG_EINVAL).
#ifndef MRLOG_HPP
#define MRLOG_HPP

#include <mrlog.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <chrono>
#include <exception>
#include <future>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace mrlogpp {

// Thrown by the constructor when mrlog_open fails, and by the reads when
// the C call fails.  status() is the MRLOG_* code.
class error : public std::runtime_error {
 public:
  explicit error(int status, const std::string &context = std::string())
      : std::runtime_error((context.empty() ? std::string() : context + ": ") +
                           mrlog_strerror(status) + " (" +
                           mrlog_err_name(status) + ")"),
        status_(status) {}
  int status() const noexcept { return status_; }
  const char *name() const noexcept { return mrlog_err_name(status_); }

 private:
  int status_;
};

// What a mutation reports: the status (0, MRLOG_DUPLICATE or a negative
// MRLOG_E* code) and the position, as documented per call in mrlog.h.
struct result {
  int status = MRLOG_OK;
  std::uint64_t position = 0;

  bool ok() const noexcept { return status == MRLOG_OK; }
  bool duplicate() const noexcept { return status == MRLOG_DUPLICATE; }
  const char *name() const noexcept { return mrlog_err_name(status); }
};

// What every mutation returns: a std::future<result> (it converts to one)
// whose get() refuses to deadlock.  On a library thread (inside a
// callable, a visitor or log_fn run there), get() on a future that is not
// ready throws mrlogpp::error(MRLOG_EINVAL) and leaves the future valid,
// instead of waiting for the thread it runs on.  Elsewhere, and on a ready
// future, it is std::future::get().
class future : public std::future<result> {
 public:
  future() noexcept = default;
  future(std::future<result> &&f) noexcept  // NOLINT: implicit on purpose
      : std::future<result>(std::move(f)) {}

  result get() {
    if (valid() && mrlog_on_library_thread() &&
        wait_for(std::chrono::seconds(0)) != std::future_status::ready)
      throw error(MRLOG_EINVAL, "mrlogpp::future::get on a library thread");
    return std::future<result>::get();
  }
};

// What log::watch and cursor::wait return: a mrlogpp::future that can be
// cancelled.  cancel() (mrlog_cancel) completes a pending watch with
// MRLOG_ECANCELED (its callable runs, then the future becomes ready) and
// returns 0, or returns MRLOG_EINVAL if the watch has completed already
// (the race with its completion yields exactly one completion), or for an
// empty or moved-from future.  Any thread, callables included.  The
// future stays valid after cancel(): get() reports the status.  A
// watch_future destroyed without cancel() leaves the watch pending until
// it completes (at close at the latest), with its callable.
class watch_future : public future {
 public:
  watch_future() noexcept = default;
  watch_future(std::future<result> &&f, mrlog_future *handle) noexcept
      : future(std::move(f)), handle_(handle) {}
  watch_future(watch_future &&other) noexcept
      : future(std::move(other)),
        handle_(std::exchange(other.handle_, nullptr)) {}
  watch_future &operator=(watch_future &&other) noexcept {
    future::operator=(std::move(other));
    handle_ = std::exchange(other.handle_, nullptr);
    return *this;
  }

  int cancel() noexcept {
    return handle_ == nullptr ? MRLOG_EINVAL : mrlog_cancel(handle_);
  }

 private:
  // mrlog's handle of the watch, given up (mrlog_forget) at submit: a
  // stale handle is told apart (mrlog.h, OWNERSHIP), so cancel() after
  // the completion is MRLOG_EINVAL, never a cancel of another call.
  mrlog_future *handle_ = nullptr;
};

// mrlog_policy with its defaults, ready to change and pass to log.
inline mrlog_policy default_policy() noexcept {
  mrlog_policy policy;
  mrlog_policy_init(&policy);
  return policy;
}

namespace detail {

// The callable used when none is given.
struct no_callback {
  void operator()(int, std::uint64_t) const noexcept {}
};

template <class F>
inline constexpr bool takes_status_v =
    std::is_invocable_v<F &, int, std::uint64_t>;
template <class F>
inline constexpr bool takes_result_v = std::is_invocable_v<F &, result>;
// Enables the overloads that take a completion callable.
template <class F>
using if_callback =
    std::enable_if_t<takes_status_v<std::decay_t<F>> ||
                         takes_result_v<std::decay_t<F>>,
                     int>;

// The block one mutation hands to mrlog: created by submit(), freed by
// done(), which mrlog calls exactly once on a library thread.
template <class F>
struct completion {
  template <class G>
  explicit completion(G &&g) : fn(std::forward<G>(g)) {}

  std::promise<result> promise;
  F fn;

  static void done(void *arg, int status, std::uint64_t position) noexcept {
    std::unique_ptr<completion> self(static_cast<completion *>(arg));
    try {
      if constexpr (takes_status_v<F>)
        self->fn(status, position);
      else
        self->fn(result{status, position});
      self->promise.set_value(result{status, position});
    } catch (...) {
      try {
        self->promise.set_exception(std::current_exception());
      } catch (...) {
        // Only a promise already satisfied could get here; nothing to do.
      }
    }
  }
};

// Makes the block, lets call() submit it, gives up mrlog's own future (the
// std::future replaces it) and returns the std::future.
template <class F, class Call>
std::future<result> submit(F &&on_done, Call &&call) {
  using block_t = completion<std::decay_t<F>>;
  auto block = std::make_unique<block_t>(std::forward<F>(on_done));
  std::future<result> future = block->promise.get_future();
  // From here mrlog owns the block: done() runs exactly once and frees it.
  mrlog_forget(call(&block_t::done, static_cast<void *>(block.release())));
  return future;
}

// As submit(), for a watch: keeps mrlog's handle (given up all the same)
// so that the returned future can cancel it.
template <class F, class Call>
watch_future submit_watch(F &&on_done, Call &&call) {
  using block_t = completion<std::decay_t<F>>;
  auto block = std::make_unique<block_t>(std::forward<F>(on_done));
  std::future<result> future = block->promise.get_future();
  mrlog_future *handle =
      call(&block_t::done, static_cast<void *>(block.release()));
  mrlog_forget(handle);
  return watch_future(std::move(future), handle);
}

// A queue name, NUL-terminated on the stack.
class c_name {
 public:
  explicit c_name(std::string_view name) noexcept {
    buf_[0] = '\0';
    if (name.size() > 0 && name.size() <= MRLOG_QUEUE_NAME_MAX &&
        name.find('\0') == std::string_view::npos) {
      std::memcpy(buf_, name.data(), name.size());
      buf_[name.size()] = '\0';
    }
  }
  const char *get() const noexcept { return buf_; }

 private:
  char buf_[MRLOG_QUEUE_NAME_MAX + 1];
};

// The iovecs of a batch: on the stack up to 16 records, else a vector.
class iovecs {
 public:
  template <class Container>
  explicit iovecs(const Container &records) {
    count_ = static_cast<std::size_t>(std::size(records));
    if (count_ > sizeof(small_) / sizeof(small_[0])) {
      large_.resize(count_);
      data_ = large_.data();
    }
    std::size_t i = 0;
    for (const auto &record : records) {
      using byte_t = std::remove_reference_t<decltype(*std::data(record))>;
      static_assert(std::is_trivially_copyable_v<byte_t>,
                    "append_batch: records must be contiguous plain bytes "
                    "(std::string, std::string_view, std::vector<char>...)");
      data_[i].iov_base =
          const_cast<void *>(static_cast<const void *>(std::data(record)));
      data_[i].iov_len = std::size(record) * sizeof(byte_t);
      ++i;
    }
  }
  const struct iovec *data() const noexcept { return data_; }
  std::size_t size() const noexcept { return count_; }

 private:
  struct iovec small_[16];
  std::vector<struct iovec> large_;
  struct iovec *data_ = small_;
  std::size_t count_ = 0;
};

// What a range visitor may return: void (visit everything) or exactly
// bool (false: stop).  Anything else -- an int in particular, which would
// convert to bool and stop the walk at its first 0, unlike mrlog_range's
// own convention -- is refused at compile time.
template <class R>
inline constexpr bool visitor_result_ok_v =
    std::is_void_v<R> ||
    std::is_same_v<std::remove_cv_t<std::remove_reference_t<R>>, bool>;

// The state of one range() call; its trampoline runs on the caller's
// thread, inside mrlog_range.
template <class V>
struct range_visit {
  V *visit;
  std::exception_ptr failure;

  static int call(void *arg, std::uint64_t position, const void *data,
                  std::size_t len) noexcept {
    auto *self = static_cast<range_visit *>(arg);
    std::string_view payload(len ? static_cast<const char *>(data) : "", len);
    auto invoke = [&]() -> decltype(auto) {
      if constexpr (std::is_invocable_v<V &, std::uint64_t, std::string_view>)
        return (*self->visit)(position, payload);
      else
        return (*self->visit)(payload);
    };
    using returned = decltype(invoke());
    static_assert(visitor_result_ok_v<returned>,
                  "range: the visitor returns void or bool (false: stop); "
                  "not int or anything else convertible to bool");
    try {
      if constexpr (std::is_void_v<returned>) {
        invoke();
        return 0;
      } else {
        return static_cast<bool>(invoke()) ? 0 : 1;
      }
    } catch (...) {
      // Stop the walk; range() rethrows once mrlog_range has returned.
      self->failure = std::current_exception();
      return 1;
    }
  }
};

// The state of one range_time() call: like range_visit, with the
// record's time (unix ms) passed as visit(position, unix_ms, payload).
template <class V>
struct range_time_visit {
  V *visit;
  std::exception_ptr failure;

  static int call(void *arg, std::uint64_t position, std::uint64_t unix_ms,
                  const void *data, std::size_t len) noexcept {
    auto *self = static_cast<range_time_visit *>(arg);
    std::string_view payload(len ? static_cast<const char *>(data) : "", len);
    using returned = std::invoke_result_t<V &, std::uint64_t, std::uint64_t,
                                          std::string_view>;
    static_assert(visitor_result_ok_v<returned>,
                  "range_time: the visitor returns void or bool (false: "
                  "stop); not int or anything else convertible to bool");
    try {
      if constexpr (std::is_void_v<returned>) {
        (*self->visit)(position, unix_ms, payload);
        return 0;
      } else {
        return static_cast<bool>((*self->visit)(position, unix_ms, payload))
                   ? 0
                   : 1;
      }
    } catch (...) {
      self->failure = std::current_exception();
      return 1;
    }
  }
};

}  // namespace detail

// A record an mrlogpp::cursor returned.  data is valid until the cursor
// moves on (see CURSORS at the top).
struct record {
  std::uint64_t position = 0;
  std::uint64_t unix_ms = 0;  // when it was framed (see mrlog.h, TIME)
  std::string_view data;
};

// A cursor over one queue (mrlog_cursor_*): an input range whose loop
// reads up to the visible end.  Move-only; an empty (default-constructed
// or moved-from) cursor reads nothing and throws MRLOG_EINVAL from
// next(), seek() and its loop.  Moving a cursor ends its iterators.
class cursor {
 public:
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = record;
    using difference_type = std::ptrdiff_t;
    using pointer = const record *;
    using reference = const record &;

    iterator() noexcept = default;  // the end
    reference operator*() const noexcept { return owner_->current_; }
    pointer operator->() const noexcept { return &owner_->current_; }
    // Reads the next record; at the visible end, becomes the end.
    // Throws mrlogpp::error (MRLOG_ENOQUEUE, MRLOG_ECLOSED).
    iterator &operator++() {
      if (!owner_->advance())
        owner_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator &a, const iterator &b) noexcept {
      return a.owner_ == b.owner_;
    }
    friend bool operator!=(const iterator &a, const iterator &b) noexcept {
      return a.owner_ != b.owner_;
    }

   private:
    friend class cursor;
    explicit iterator(cursor *owner) noexcept : owner_(owner) {}
    cursor *owner_ = nullptr;
  };

  cursor() noexcept = default;
  // Opens a cursor on queue of log (a C handle: see log::cursor) at
  // position from.  Throws mrlogpp::error (MRLOG_ENOQUEUE, MRLOG_EINVAL,
  // MRLOG_ENOMEM).
  cursor(mrlog *log, std::string_view queue, std::uint64_t from = 0) {
    int rc = mrlog_cursor_open(log, detail::c_name(queue).get(), from,
                               &handle_);
    if (rc != 0)
      throw error(rc, "mrlog_cursor_open");
  }
  ~cursor() { mrlog_cursor_close(handle_); }
  cursor(cursor &&other) noexcept
      : handle_(std::exchange(other.handle_, nullptr)),
        current_(other.current_) {}
  cursor &operator=(cursor &&other) noexcept {
    if (this != &other) {
      mrlog_cursor_close(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
      current_ = other.current_;
    }
    return *this;
  }
  cursor(const cursor &) = delete;
  cursor &operator=(const cursor &) = delete;

  // Reads the first record, or returns the end at the visible end.
  iterator begin() { return advance() ? iterator(this) : iterator(); }
  iterator end() noexcept { return iterator(); }

  // The next record, or std::nullopt at the visible end (MRLOG_ENODATA).
  // Throws mrlogpp::error (MRLOG_ENOQUEUE, MRLOG_ECLOSED, MRLOG_EINVAL).
  std::optional<record> next() {
    if (!advance())
      return std::nullopt;
    return current_;
  }

  // The next read looks at position (mrlog_cursor_seek).  Throws
  // mrlogpp::error (MRLOG_ECLOSED, MRLOG_EINVAL).
  void seek(std::uint64_t position) {
    int rc = mrlog_cursor_seek(handle_, position);
    if (rc != 0)
      throw error(rc, "mrlog_cursor_seek");
  }

  // The position the next read looks at; 0 for an empty cursor.
  std::uint64_t position() const noexcept {
    return mrlog_cursor_position(handle_);
  }

  // Completes once a record is visible at or after position() (at once
  // if one is), with status 0 and the queue's visible next position
  // (mrlog_cursor_wait); MRLOG_ENOQUEUE once the queue is deleted,
  // MRLOG_ECLOSED once the log is closed, MRLOG_ECANCELED after cancel(),
  // MRLOG_EINVAL for an empty cursor.  The callable runs as a mutation's
  // does (see COMPLETION at the top).  The wait does not use the cursor
  // once the call returns.
  template <class F = detail::no_callback, detail::if_callback<F> = 0>
  watch_future wait(F &&on_done = {}) {
    return detail::submit_watch(std::forward<F>(on_done),
                                [&](mrlog_done_fn done, void *arg) {
                                  return mrlog_cursor_wait(handle_, done,
                                                           arg);
                                });
  }

  explicit operator bool() const noexcept { return handle_ != nullptr; }
  // The C handle, for calls this wrapper does not cover.  Still owned here.
  mrlog_cursor *native_handle() const noexcept { return handle_; }

 private:
  // mrlog_cursor_next into current_: true, or false at the visible end.
  bool advance() {
    struct mrlog_record r;
    int rc = mrlog_cursor_next(handle_, &r);
    if (rc == MRLOG_ENODATA)
      return false;
    if (rc != 0)
      throw error(rc, "mrlog_cursor_next");
    current_.position = r.position;
    current_.unix_ms = r.unix_ms;
    current_.data = std::string_view(
        r.len ? static_cast<const char *>(r.data) : "", r.len);
    return true;
  }

  mrlog_cursor *handle_ = nullptr;
  record current_;
};

// An open mrlog log.  Move-only; an empty (default-constructed or
// moved-from) log completes every mutation with MRLOG_EINVAL and throws
// mrlogpp::error from the reads.
class log {
 public:
  log() noexcept = default;

  // Opens dir (see mrlog_open).  Throws mrlogpp::error on failure.
  explicit log(const std::string &dir) { open(dir.c_str(), nullptr); }
  log(const std::string &dir, const mrlog_policy &policy) {
    open(dir.c_str(), &policy);
  }

  // Closes the log (see close()).
  ~log() { close(); }

  log(log &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  log &operator=(log &&other) noexcept {
    if (this != &other) {
      close();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  log(const log &) = delete;
  log &operator=(const log &) = delete;

  // Completes every pending mutation (their callables run and their
  // futures become ready), then closes: see mrlog_close.  Returns 0 or the
  // status that had failed the log; the log is empty afterwards.  An empty
  // log returns 0.  From a library thread it returns MRLOG_EINVAL and
  // leaves the log open (and the destructor then leaks it): never close
  // or destroy a log inside a callable.
  int close() noexcept {
    if (handle_ == nullptr)
      return MRLOG_OK;
    int rc = mrlog_close(handle_);
    if (rc != MRLOG_EINVAL)
      handle_ = nullptr;
    return rc;
  }

  explicit operator bool() const noexcept { return handle_ != nullptr; }
  // The C handle, for calls this wrapper does not cover.  Still owned here.
  mrlog *native_handle() const noexcept { return handle_; }

  // ------------------------------------------------------------------
  // Mutations.  Each returns a mrlogpp::future and takes an optional
  // callable f(int status, uint64_t position) or f(result), run on the
  // library thread before the future becomes ready (see the top).
  // ------------------------------------------------------------------

  // Position reported: 0.  MRLOG_EEXIST if the queue exists.
  template <class F = detail::no_callback, detail::if_callback<F> = 0>
  mrlogpp::future create_queue(std::string_view queue, F &&on_done = {}) {
    detail::c_name name(queue);
    return detail::submit(std::forward<F>(on_done),
                          [&](mrlog_done_fn done, void *arg) {
                            return mrlog_create_queue(handle_, name.get(),
                                                      done, arg);
                          });
  }

  // MRLOG_ENOQUEUE if the queue does not exist.
  template <class F = detail::no_callback, detail::if_callback<F> = 0>
  mrlogpp::future delete_queue(std::string_view queue, F &&on_done = {}) {
    detail::c_name name(queue);
    return detail::submit(std::forward<F>(on_done),
                          [&](mrlog_done_fn done, void *arg) {
                            return mrlog_delete_queue(handle_, name.get(),
                                                      done, arg);
                          });
  }

  // Appends payload (any bytes; copied before the call returns) at the
  // queue's next position.  Position reported: the record's.
  template <class F = detail::no_callback, detail::if_callback<F> = 0>
  mrlogpp::future append(std::string_view queue, std::string_view payload,
                             F &&on_done = {}) {
    return append(queue, payload, std::nullopt, std::forward<F>(on_done));
  }

  // Appends at an explicit position (std::nullopt: the next one).  Below
  // the queue's next position: MRLOG_DUPLICATE, nothing written.
  template <class F = detail::no_callback, detail::if_callback<F> = 0>
  mrlogpp::future append(std::string_view queue, std::string_view payload,
                             std::optional<std::uint64_t> position,
                             F &&on_done = {}) {
    detail::c_name name(queue);
    return detail::submit(
        std::forward<F>(on_done), [&](mrlog_done_fn done, void *arg) {
          return mrlog_append(handle_, name.get(),
                              position ? &*position : nullptr, payload.data(),
                              payload.size(), done, arg);
        });
  }

  // Appends every element of records (a container of std::string_view,
  // std::string, std::vector<char>, spans...) atomically at consecutive
  // positions.  Position reported: the last record's.
  template <class Container, class F = detail::no_callback,
            detail::if_callback<F> = 0>
  mrlogpp::future append_batch(std::string_view queue,
                                   const Container &records,
                                   F &&on_done = {}) {
    return append_batch(queue, records, std::nullopt,
                        std::forward<F>(on_done));
  }

  // As above, the first record at first_position (std::nullopt: next).
  template <class Container, class F = detail::no_callback,
            detail::if_callback<F> = 0>
  mrlogpp::future append_batch(
      std::string_view queue, const Container &records,
      std::optional<std::uint64_t> first_position, F &&on_done = {}) {
    detail::c_name name(queue);
    detail::iovecs iov(records);
    return detail::submit(
        std::forward<F>(on_done), [&](mrlog_done_fn done, void *arg) {
          return mrlog_append_batch(
              handle_, name.get(),
              first_position ? &*first_position : nullptr, iov.data(),
              iov.size(), done, arg);
        });
  }

  // Drops every record at or below position.  Position reported: position.
  template <class F = detail::no_callback, detail::if_callback<F> = 0>
  mrlogpp::future truncate(std::string_view queue, std::uint64_t position,
                               F &&on_done = {}) {
    detail::c_name name(queue);
    return detail::submit(std::forward<F>(on_done),
                          [&](mrlog_done_fn done, void *arg) {
                            return mrlog_truncate(handle_, name.get(),
                                                  position, done, arg);
                          });
  }

  // Records that consumer has processed every record of queue below
  // position (mrlog_commit): MRLOG_DUPLICATE at or below its committed
  // position.  Position reported: position (the committed one for
  // MRLOG_DUPLICATE).
  template <class F = detail::no_callback, detail::if_callback<F> = 0>
  mrlogpp::future commit(std::string_view queue, std::string_view consumer,
                         std::uint64_t position, F &&on_done = {}) {
    detail::c_name name(queue), cname(consumer);
    return detail::submit(std::forward<F>(on_done),
                          [&](mrlog_done_fn done, void *arg) {
                            return mrlog_commit(handle_, name.get(),
                                                cname.get(), position, done,
                                                arg);
                          });
  }

  // Removes a consumer (mrlog_remove_consumer): MRLOG_ENODATA if the queue
  // has none of that name.  Position reported: its committed position.
  template <class F = detail::no_callback, detail::if_callback<F> = 0>
  mrlogpp::future remove_consumer(std::string_view queue,
                                  std::string_view consumer,
                                  F &&on_done = {}) {
    detail::c_name name(queue), cname(consumer);
    return detail::submit(std::forward<F>(on_done),
                          [&](mrlog_done_fn done, void *arg) {
                            return mrlog_remove_consumer(handle_, name.get(),
                                                         cname.get(), done,
                                                         arg);
                          });
  }

  // Completes once everything submitted before it is durable.
  template <class F = detail::no_callback, detail::if_callback<F> = 0>
  mrlogpp::future sync(F &&on_done = {}) {
    return detail::submit(std::forward<F>(on_done),
                          [&](mrlog_done_fn done, void *arg) {
                            return mrlog_sync(handle_, done, arg);
                          });
  }

  // Completes once the queue's visible next position exceeds position
  // (mrlog_watch), with status 0 and that next position; at once if it
  // already does.  Otherwise MRLOG_ENOQUEUE (no such queue, or deleted
  // while waiting), MRLOG_ECLOSED at close, MRLOG_ECANCELED after the
  // future's cancel(), MRLOG_EINVAL for a bad name or an empty log.
  template <class F = detail::no_callback, detail::if_callback<F> = 0>
  watch_future watch(std::string_view queue, std::uint64_t position,
                     F &&on_done = {}) {
    detail::c_name name(queue);
    return detail::submit_watch(std::forward<F>(on_done),
                                [&](mrlog_done_fn done, void *arg) {
                                  return mrlog_watch(handle_, name.get(),
                                                     position, done, arg);
                                });
  }

  // Cancels a watch (watch_future::cancel).
  static int cancel(watch_future &watch) noexcept { return watch.cancel(); }

  // ------------------------------------------------------------------
  // Reads: synchronous, on the calling thread, from RAM (see mrlog.h).
  // ------------------------------------------------------------------

  // Visits the records with from <= position < to in order, calling
  // visit(uint64_t position, std::string_view payload) or
  // visit(std::string_view payload); the payload is valid during the call
  // only.  The visitor returns void, or bool: false stops the walk; any
  // other return type (int included) does not compile.
  // Returns true if the walk reached the end, false if the visitor
  // stopped it.  Throws mrlogpp::error (MRLOG_ENOQUEUE, MRLOG_EINVAL), or
  // whatever the visitor threw (the walk stops at that record).
  template <class V>
  bool range(std::string_view queue, std::uint64_t from, std::uint64_t to,
             V &&visit) const {
    using visitor_t = std::remove_reference_t<V>;
    detail::c_name name(queue);
    detail::range_visit<visitor_t> state{&visit, nullptr};
    int rc = mrlog_range(handle_, name.get(), from, to,
                         &detail::range_visit<visitor_t>::call, &state);
    if (state.failure)
      std::rethrow_exception(state.failure);
    if (rc < 0)
      throw error(rc, "mrlog_range");
    return rc == 0;
  }

  // Every record of the queue.
  template <class V>
  bool range(std::string_view queue, V &&visit) const {
    return range(queue, 0, UINT64_MAX, std::forward<V>(visit));
  }

  // As range(), with each record's time: visit(uint64_t position,
  // uint64_t unix_ms, std::string_view payload) (mrlog_range_time).
  template <class V>
  bool range_time(std::string_view queue, std::uint64_t from,
                  std::uint64_t to, V &&visit) const {
    using visitor_t = std::remove_reference_t<V>;
    detail::c_name name(queue);
    detail::range_time_visit<visitor_t> state{&visit, nullptr};
    int rc = mrlog_range_time(handle_, name.get(), from, to,
                              &detail::range_time_visit<visitor_t>::call,
                              &state);
    if (state.failure)
      std::rethrow_exception(state.failure);
    if (rc < 0)
      throw error(rc, "mrlog_range_time");
    return rc == 0;
  }

  // The position of the queue's first retained record framed at or after
  // unix_ms, or std::nullopt if every record is older (MRLOG_ENODATA).
  // Throws mrlogpp::error for a missing queue, an invalid name or an
  // empty log (mrlog_seek_time).
  std::optional<std::uint64_t> seek_time(std::string_view queue,
                                         std::uint64_t unix_ms) const {
    std::uint64_t position = 0;
    int rc = mrlog_seek_time(handle_, detail::c_name(queue).get(), unix_ms,
                             &position);
    if (rc == MRLOG_ENODATA)
      return std::nullopt;
    if (rc != 0)
      throw error(rc, "mrlog_seek_time");
    return position;
  }

  // The queue's figures, or std::nullopt if it does not exist.  Throws
  // mrlogpp::error for an invalid name or an empty log.
  std::optional<mrlog_queue_info_t> queue_info(std::string_view queue) const {
    mrlog_queue_info_t info{};
    int rc = mrlog_queue_info(handle_, detail::c_name(queue).get(), &info);
    if (rc == MRLOG_ENOQUEUE)
      return std::nullopt;
    if (rc != 0)
      throw error(rc, "mrlog_queue_info");
    return info;
  }

  // True if the queue exists.  False for an empty log or an invalid name.
  bool exists(std::string_view queue) const noexcept {
    return mrlog_queue_exists(handle_, detail::c_name(queue).get());
  }

  // Every queue's name, in no set order.  Throws mrlogpp::error for an
  // empty log, std::bad_alloc if the names do not fit in memory.
  std::vector<std::string> list_queues() const {
    struct state {
      std::vector<std::string> names;
      std::exception_ptr failure;
    } s;
    auto visit = [](void *arg, const char *queue) noexcept -> int {
      auto *st = static_cast<state *>(arg);
      try {
        st->names.emplace_back(queue);
        return 0;
      } catch (...) {
        st->failure = std::current_exception();
        return 1;
      }
    };
    int rc = mrlog_list_queues(handle_, visit, &s);
    if (s.failure)
      std::rethrow_exception(s.failure);
    if (rc != 0)
      throw error(rc, "mrlog_list_queues");
    return std::move(s.names);
  }

  // The consumer's committed position, or std::nullopt if the queue has
  // no consumer of that name (MRLOG_ENODATA).  Throws mrlogpp::error for a
  // missing queue, an invalid name or an empty log (mrlog_committed).
  std::optional<std::uint64_t> committed(std::string_view queue,
                                         std::string_view consumer) const {
    std::uint64_t position = 0;
    int rc = mrlog_committed(handle_, detail::c_name(queue).get(),
                             detail::c_name(consumer).get(), &position);
    if (rc == MRLOG_ENODATA)
      return std::nullopt;
    if (rc != 0)
      throw error(rc, "mrlog_committed");
    return position;
  }

  // Every consumer of the queue with its committed position, in no set
  // order.  Throws mrlogpp::error for a missing queue, an invalid name or
  // an empty log, std::bad_alloc if they do not fit in memory.
  std::vector<std::pair<std::string, std::uint64_t>> list_consumers(
      std::string_view queue) const {
    struct state {
      std::vector<std::pair<std::string, std::uint64_t>> consumers;
      std::exception_ptr failure;
    } s;
    auto visit = [](void *arg, const char *consumer,
                    std::uint64_t position) noexcept -> int {
      auto *st = static_cast<state *>(arg);
      try {
        st->consumers.emplace_back(consumer, position);
        return 0;
      } catch (...) {
        st->failure = std::current_exception();
        return 1;
      }
    };
    int rc = mrlog_list_consumers(handle_, detail::c_name(queue).get(), visit,
                                  &s);
    if (s.failure)
      std::rethrow_exception(s.failure);
    if (rc != 0)
      throw error(rc, "mrlog_list_consumers");
    return std::move(s.consumers);
  }

  // Poll mode (policy.completion_mode = MRLOG_COMPLETE_ON_POLL, mrlog.h
  // POLL MODE): the callables run on the thread that calls
  // run_completions, not on a library thread.  completion_fd() is the
  // eventfd to watch (readable exactly while completions are queued; poll
  // it only); run_completions(max) runs up to max of them here and returns
  // how many ran.  Both make the calling thread the poller.  They throw
  // mrlogpp::error (MRLOG_EINVAL) for an empty log, a log not in poll mode,
  // and inside a callable.  The poller must not block in a std::future's
  // get() or wait() before its callable ran (nothing else runs it): run
  // completions until wait_for(0s) says it is ready.
  int completion_fd() const {
    int rc = mrlog_completion_fd(handle_);
    if (rc < 0)
      throw error(rc, "mrlog_completion_fd");
    return rc;
  }

  int run_completions(unsigned max) {
    int rc = mrlog_run_completions(handle_, max);
    if (rc < 0)
      throw error(rc, "mrlog_run_completions");
    return rc;
  }

  // A cursor on queue whose first read looks at position from (see
  // CURSORS at the top).  Throws mrlogpp::error (MRLOG_ENOQUEUE,
  // MRLOG_EINVAL: an empty log or a bad name; MRLOG_ENOMEM).
  mrlogpp::cursor cursor(std::string_view queue,
                         std::uint64_t from = 0) const {
    return mrlogpp::cursor(handle_, queue, from);
  }

  // The log's figures.  Throws mrlogpp::error for an empty log.
  mrlog_stats_t stats() const {
    mrlog_stats_t figures{};
    int rc = mrlog_stats(handle_, &figures);
    if (rc != 0)
      throw error(rc, "mrlog_stats");
    return figures;
  }

  // The log-wide histograms (mrlog_metrics).  Throws mrlogpp::error for
  // an empty log.
  mrlog_metrics_t metrics() const {
    mrlog_metrics_t figures{};
    int rc = mrlog_metrics(handle_, &figures);
    if (rc != 0)
      throw error(rc, "mrlog_metrics");
    return figures;
  }

  // The metrics in the Prometheus text format (mrlog_metrics_text), sized
  // by the library: retries while the text grows between the calls.
  // Throws mrlogpp::error for an empty log, std::bad_alloc when memory
  // runs out.
  std::string metrics_text() const {
    std::string text;
    size_t needed = 0;
    int rc = mrlog_metrics_text(handle_, nullptr, 0, &needed);
    while (rc == MRLOG_ENOMEM && needed > 0) {
      text.resize(needed + 1024);
      rc = mrlog_metrics_text(handle_, &text[0], text.size(), &needed);
    }
    if (rc == MRLOG_ENOMEM)
      throw std::bad_alloc();
    if (rc != 0)
      throw error(rc, "mrlog_metrics_text");
    text.resize(needed - 1);
    return text;
  }

 private:
  void open(const char *dir, const mrlog_policy *policy) {
    int rc = mrlog_open(dir, policy, &handle_);
    if (rc != 0) {
      handle_ = nullptr;
      throw error(rc, std::string("mrlog_open(") + dir + ")");
    }
  }

  mrlog *handle_ = nullptr;
};

}  // namespace mrlogpp

#endif  // MRLOG_HPP
