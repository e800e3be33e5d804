// Preemption: making a goroutine that does not yield give up its P (Go's
// preempt.go, signal_unix.go doSigPreempt, proc.go preemptone/sysmon).
//
// ## Glossary
//
// A preemption request is g->preempt, set by sysmon when a P has run the
// same G for 10 ms (Go's forcePreemptNS), or by stop-the-world. A safe point
// is an instruction at which the G may be stopped and later resumed, maybe
// on another thread, without anyone noticing. Cooperative preemption yields
// at safe points the code chose (runtime calls, gort::yield_point());
// asynchronous preemption stops the G at whatever instruction a signal
// interrupted, if that instruction is an async-safe point (rules below).
//
// ## Cooperative: the yield_point fast path
//
// yield_point() must be cheap enough for inner loops. It used to call
// preempt_requested() -> current_g() -> getm(), a noinline function that
// reads the thread_local M (two calls, three dependent loads). Now it is
// inline: one relaxed load of a global offset, one %fs-relative load of
// the thread's t_preempt_flag (a pointer to the running G's preempt flag),
// one byte load. Measured with sched/preempt_benchmark (default build,
// this project's 2-core VM, CPU time per check on a goroutine, median of
// 7): 0.57 ns, against 3.3 ns for the old path; the empty loop is 0.53 ns.
//
// Why it is safe across migration. A goroutine may resume on another thread
// after any switch, and with asynchronous preemption after any instruction.
// The hazard of thread-locals in such code is the compiler's: it treats the
// thread pointer as constant within a function, so it may compute the
// address of a thread_local once, before a loop or before a call that
// switches, and keep using the old thread's slot. Here (1) the slot is read
// by an `asm volatile` that addresses it through %fs on every call (the
// asm cannot be merged or hoisted out of a loop, and the segment register
// is the current thread's at the instant the one instruction executes;
// a signal is delivered between instructions, never inside one); (2) the
// value read is a pointer to the *goroutine's* flag, not to anything of the
// thread, so if the goroutine migrates right after the load the pointer is
// still its own; (3) the offset of the slot from the thread pointer is the
// same for every thread because the variable has the initial-exec TLS
// model (static TLS); initsig computes it once and minit checks it on every
// M. execute() sets the slot before switching to a G and resets it to a
// never-set flag when the G switches back, so g0 and plain threads read
// false. execute() also clears g->preempt when a G starts running (as Go's
// execute does), which covers every path back to running: yield, park,
// preemption, exitsyscall.
//
// ## Asynchronous: by signal (Go 1.14's)
//
// sysmon's preemptone sets g->preempt and sends SIGURG to the M's thread
// with tgkill (unless GODEBUG=asyncpreemptoff=1). Why SIGURG (Go's
// reasoning, runtime/signal_unix.go sigPreempt): it must be a signal that
// debuggers pass through by default, that libc does not use internally
// (glibc uses SIGCANCEL and SIGSETXID, the two lowest real-time signals),
// that has no meaningful default action if it reaches a thread before the
// handler exists (SIGURG's default is to ignore), and that programs rarely
// use: SIGURG only reports out-of-band socket data, which almost nothing
// uses. Programs that do must not install their own SIGURG handler under
// gort (the runtime's replaces it); spurious SIGURGs are harmless.
//
// The handler runs on the M's alternate signal stack (SA_ONSTACK; minit
// installs one per M) and preempts only at an async-safe point:
//   1. the thread is an M running a G (m->curg) whose preempt flag is set
//      and which is kRunning (not in a syscall);
//   2. m->locks == 0: the runtime is not in a critical section that runs on
//      the G's stack (entersyscall..exitsyscall, go's newproc, ready,
//      NoAsyncPreempt scopes);
//   3. the interrupted PC is in the main executable's text and not in the
//      runtime's own code. Not in a shared object: libc (malloc holds arena
//      locks, stdio holds FILE locks, errno and locale are per thread), the
//      C++ runtime (exception handling state is per thread, guards of
//      function-local statics), the dynamic loader (the loader lock during
//      lazy binding), the sanitizers' runtimes. Not in the runtime: its code
//      holds M and P pointers in registers and would use the old ones after
//      moving to another thread. How the runtime's code is found: at start
//      the runtime reads the ELF symbol table of the executable (and of the
//      non-system shared objects loaded with it) and records the address
//      range of every function whose name places it in namespace gort
//      (mangled _ZN4gort..., _ZZN4gort..., with const/ref qualifiers) or
//      that is a C symbol gort_* (the assembly). A binary search over the
//      sorted ranges answers in the handler. Rejected: a dedicated linker
//      section (every runtime function of every package would need an
//      attribute, and one forgotten function is a rare, silent corruption;
//      GCC has no per-file section option); one address range from the first
//      to the last runtime function (the linker does not keep a library's
//      functions together: .text.unlikely, .text.hot and COMDAT templates
//      are grouped across files). The cost of the choice: an executable
//      without a symbol table (stripped) cannot be classified, so async
//      preemption is off there (async_preempt_supported() says so), as it is
//      when libc is linked statically (libc would then be in the main text).
//   4. the interrupted SP lies inside the G's stack with room for the save
//      area and the yield path (headroom computed at start), and the handler
//      itself runs on the signal stack, not on the G's stack (else the
//      kernel's signal frame would sit where the handler is about to write);
//   5. no AMX tile state is live (the save area does not cover it; see
//      below).
// Then it redirects the interrupted context in the ucontext_t: it skips
// the 128-byte red zone below the interrupted RSP (leaf functions keep data
// there), pushes the interrupted RIP there, and sets RIP to
// gort_async_preempt (preempt_x86_64.S) and RSP to the pushed word. When the
// handler returns, sigreturn restores every register from the ucontext
// (the kernel restores the FP/SIMD state from the signal frame) and the
// thread runs gort_async_preempt as if the interrupted code had called it
// there. The routine saves the flags and every general register, aligns the
// stack to 64, saves the SIMD state (below), calls
// gort_async_preempt_yield, which does gosched(MOp::kPreempt) (the G goes
// to the global run queue, as in Go), and when the G runs again, maybe on
// another thread, restores everything and `ret $128`s to the interrupted
// RIP with RSP back at its interrupted value.
//
// SIMD state. XSAVE with the requested-feature mask XCR0 & (x87 | SSE | AVX
// | AVX-512 opmask, ZMM_Hi256, Hi16_ZMM), i.e. every register a compiler may
// allocate, with the save area sized from CPUID leaf 0xD for exactly those
// components; FXSAVE (x87 + SSE + MXCSR, 512 bytes) on a CPU without XSAVE,
// where it covers every SIMD register that exists. Not saved: PKRU (it is
// the thread's memory-protection-key rights; carrying it to another thread
// would change that thread's), MPX bounds (obsolete), AMX tiles (8 KiB, and
// Linux enables them per process only on request; the handler declines when
// the signal frame shows tile state in use). Plain XSAVE rather than
// XSAVEOPT/XSAVEC: the area lives on a stack at varying addresses and is
// restored on whichever thread the G lands on, so the simplest standard
// format is used; its header must be zero before XSAVE (XRSTOR faults on
// nonzero reserved header bytes), so the routine clears it. errno is saved
// and restored around the yield too: the interrupted code may be between a
// libc call and its errno check, and errno is per thread.
//
// Under ThreadSanitizer async preemption is off (async_preempt_supported()
// is false): TSan intercepts sigaction and delivers asynchronous signals
// later, at its own points, passing the handler a copy of the interrupted
// ucontext, so a redirect would be lost and the PC it judged would be
// stale. Cooperative preemption still works there.
//
// ## What user code must not do on a goroutine (async preemption)
//
// A goroutine may stop at almost any instruction of the user's own code and
// continue on another thread. So user code must not:
//   - hold a std::mutex, pthread lock or spinlock (any lock that blocks the
//     thread) across code that runs long enough to be preempted: another
//     goroutine on the same M may then block the M on it, and with
//     GOMAXPROCS=1 nothing runs the holder again (and unlocking a
//     pthread mutex from another thread is undefined);
//   - keep the address of a thread_local (or errno's address, or any
//     per-thread libc state) across preemptible code, or expect two reads
//     of a thread_local to see the same thread's: use lock_os_thread for
//     code that needs its thread;
//   - call back into itself from code outside the main executable while
//     relying on the thread (a qsort comparator is preemptible, qsort
//     itself is not);
//   - be surprised by EINTR: system calls that are not restarted under
//     SA_RESTART (poll, epoll_wait, select, nanosleep's remaining time,
//     futex with a timeout) may fail with EINTR when a preemption signal
//     lands, as in Go since 1.14;
//   - use AMX tiles or change PKRU in preemptible code.
// GODEBUG=asyncpreemptoff=1 turns the signal off; then only runtime calls
// and yield_point() preempt, and a loop without them keeps its P.
#include "sched/preempt.h"

#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <ucontext.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "sched/internal.h"
#include "sched/runtime.h"
#include "sys/env.h"
#include "sys/fatal.h"
#include "sys/signal.h"
#include "sys/syscall.h"
#include "sys/thread.h"

// The routine the handler redirects to (preempt_x86_64.S), its C++ half,
// and what it reads to save the SIMD state (set once by initsig).
extern "C" {
void gort_async_preempt();
[[gnu::visibility("hidden")]] void gort_async_preempt_yield();
[[gnu::visibility("hidden")]] constinit uint64_t gort_preempt_fpstate_size =
    512;
[[gnu::visibility("hidden")]] constinit uint32_t gort_preempt_use_xsave = 0;
[[gnu::visibility("hidden")]] constinit uint32_t gort_preempt_xsave_mask_lo = 0;
[[gnu::visibility("hidden")]] constinit uint32_t gort_preempt_xsave_mask_hi = 0;
}

namespace gort::sched {

namespace preempt_internal {
constinit std::atomic<intptr_t> g_flag_tls_offset{0};
constinit std::atomic<bool> g_never_preempt{false};
constinit thread_local const std::atomic<bool>* t_preempt_flag
    __attribute__((tls_model("initial-exec"))) = &g_never_preempt;
}  // namespace preempt_internal

namespace {

#if defined(__SANITIZE_THREAD__)
constexpr bool kTsan = true;
#else
constexpr bool kTsan = false;
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr uintptr_t kYieldPathStack = 16 * 1024;  // sanitizer frames are big
#else
constexpr uintptr_t kYieldPathStack = 4 * 1024;
#endif
constexpr uintptr_t kRedZone = 128;  // System V x86-64 psABI 3.2.2
// XCR0 components the routine saves: x87 (0), SSE (1), AVX (2), AVX-512
// opmask (5), ZMM_Hi256 (6), Hi16_ZMM (7). Not PKRU (9), MPX (3, 4), AMX
// (17, 18): see the essay.
constexpr uint64_t kSavedComponents = 0xE7;
constexpr uint64_t kAmxComponents = (1ULL << 17) | (1ULL << 18);

// Process-wide switches. g_supported is fixed by initsig (release: the
// handler and ranges it publishes are complete); g_enabled flips with the
// seam (relaxed: a late flip only sends or skips one more signal).
std::atomic<bool> g_supported{false};
std::atomic<bool> g_enabled{false};
int32_t g_pid = 0;
uintptr_t g_headroom = 0;  // bytes a G's stack must have left below SP

// Counters (relaxed; lock-free, so the handler may bump them).
struct Counters {
  std::atomic<uint64_t> signals_sent{0};
  std::atomic<uint64_t> preemptions{0};
  std::atomic<uint64_t> declined_no_g{0};
  std::atomic<uint64_t> declined_locks{0};
  std::atomic<uint64_t> declined_pc{0};
  std::atomic<uint64_t> declined_stack{0};
  std::atomic<uint64_t> declined_state{0};
};
constinit Counters g_counters;

void bump(std::atomic<uint64_t>& c) {
  c.fetch_add(1, std::memory_order_relaxed);
}

// ---- code ranges ---------------------------------------------------------

struct TextRange {
  uintptr_t lo;
  uintptr_t hi;  // one past the end
};

// Immutable after initsig (which publishes them before any M starts and
// before g_supported's release store).
constexpr int kMaxExeSegments = 8;
TextRange g_exe_text[kMaxExeSegments];
int g_exe_text_n = 0;
const TextRange* g_runtime_text = nullptr;
size_t g_runtime_text_n = 0;

bool in_ranges(const TextRange* r, size_t n, uintptr_t pc) {
  // The last range with lo <= pc.
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (r[mid].lo <= pc) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo > 0 && pc < r[lo - 1].hi;
}

// The allocator's entry points. When the executable defines them itself
// (gort's //mem:malloc, or any allocator linked statically), their code
// uses a per-thread or per-P cache without a lock: a goroutine preempted
// there, and another run on the same M, would use the cache half-updated.
// So they count as the runtime's. (libc's own are in a shared object,
// outside the main text, and never preemptible anyway.)
constexpr const char* kAllocatorSymbols[] = {
    "malloc",       "free",          "cfree",          "calloc",
    "realloc",      "reallocarray",  "posix_memalign", "aligned_alloc",
    "memalign",     "valloc",        "pvalloc",        "malloc_usable_size",
};

// A symbol of the runtime: a C symbol gort_*, an allocator entry point
// (above, with operator new and delete: _Znw, _Zna, _Zdl, _Zda), or a C++
// name in namespace gort, possibly a local entity (lambda, static) of one,
// possibly a member function with cv/ref qualifiers (Itanium ABI:
// _Z [Z] N [r V K R O]* 4gort).
bool is_runtime_symbol(const char* name) {
  if (std::strncmp(name, "gort_", 5) == 0) return true;
  for (const char* a : kAllocatorSymbols) {
    if (std::strcmp(name, a) == 0) return true;
  }
  if (name[0] != '_' || name[1] != 'Z') return false;
  if (std::strncmp(name, "_Znw", 4) == 0 || std::strncmp(name, "_Zna", 4) == 0 ||
      std::strncmp(name, "_Zdl", 4) == 0 || std::strncmp(name, "_Zda", 4) == 0) {
    return true;
  }
  const char* p = name + 2;
  if (*p == 'Z') p++;
  if (*p != 'N') return false;
  p++;
  while (*p == 'r' || *p == 'V' || *p == 'K' || *p == 'R' || *p == 'O') p++;
  return std::strncmp(p, "4gort", 5) == 0;
}

enum class SymbolSource { kNone, kDynsym, kSymtab };

// Maps `path` and adds the address ranges of the runtime's functions in it
// (symbol values + bias) to *out. When `phdrs` is given (the main program),
// the file's program headers must match the loaded ones (else the file is
// not the executable that runs, and kNone is returned). Returns where the
// symbols came from. Called once per object at start; allocates.
SymbolSource scan_symbols(const char* path, uintptr_t bias,
                          const ElfW(Phdr) * phdrs, int phnum,
                          std::vector<TextRange>* out) {
  long fd = sys::openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (sys::is_error(fd)) return SymbolSource::kNone;
  struct stat st = {};
  long r = sys::syscall6(SYS_fstat, fd, reinterpret_cast<long>(&st));
  size_t size = static_cast<size_t>(st.st_size);
  if (sys::is_error(r) || size < sizeof(Elf64_Ehdr)) {
    sys::close(static_cast<int>(fd));
    return SymbolSource::kNone;
  }
  long addr =
      sys::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, static_cast<int>(fd), 0);
  sys::close(static_cast<int>(fd));
  if (sys::is_error(addr)) return SymbolSource::kNone;
  const char* base = reinterpret_cast<const char*>(addr);
  SymbolSource source = SymbolSource::kNone;
  auto in_file = [size](uint64_t off, uint64_t len) {
    return off <= size && len <= size - off;
  };
  do {
    const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
    if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shentsize != sizeof(Elf64_Shdr) ||
        !in_file(eh->e_shoff, sizeof(Elf64_Shdr))) {
      break;
    }
    if (phdrs != nullptr) {
      if (eh->e_phnum != phnum || eh->e_phentsize != sizeof(Elf64_Phdr) ||
          !in_file(eh->e_phoff, uint64_t{eh->e_phnum} * sizeof(Elf64_Phdr))) {
        break;
      }
      const auto* fph = reinterpret_cast<const Elf64_Phdr*>(base + eh->e_phoff);
      bool same = true;
      for (int i = 0; i < phnum; i++) {
        same &= fph[i].p_type == phdrs[i].p_type &&
                fph[i].p_vaddr == phdrs[i].p_vaddr &&
                fph[i].p_memsz == phdrs[i].p_memsz;
      }
      if (!same) break;
    }
    const auto* sh = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff);
    uint64_t shnum = eh->e_shnum != 0 ? eh->e_shnum : sh[0].sh_size;
    if (!in_file(eh->e_shoff, shnum * sizeof(Elf64_Shdr))) break;
    // Prefer the full symbol table; a stripped object has only .dynsym.
    const Elf64_Shdr* table = nullptr;
    for (uint64_t i = 0; i < shnum; i++) {
      if (sh[i].sh_type == SHT_SYMTAB) table = &sh[i];
    }
    if (table == nullptr) {
      for (uint64_t i = 0; i < shnum; i++) {
        if (sh[i].sh_type == SHT_DYNSYM) table = &sh[i];
      }
    }
    if (table == nullptr || table->sh_link >= shnum) break;
    const Elf64_Shdr* strtab = &sh[table->sh_link];
    if (!in_file(table->sh_offset, table->sh_size) ||
        !in_file(strtab->sh_offset, strtab->sh_size) || strtab->sh_size == 0) {
      break;
    }
    source = table->sh_type == SHT_SYMTAB ? SymbolSource::kSymtab
                                          : SymbolSource::kDynsym;
    const auto* syms =
        reinterpret_cast<const Elf64_Sym*>(base + table->sh_offset);
    size_t nsyms = table->sh_size / sizeof(Elf64_Sym);
    const char* strs = base + strtab->sh_offset;
    for (size_t i = 0; i < nsyms; i++) {
      const Elf64_Sym& s = syms[i];
      if (ELF64_ST_TYPE(s.st_info) != STT_FUNC || s.st_shndx == SHN_UNDEF ||
          s.st_size == 0 || s.st_name >= strtab->sh_size) {
        continue;
      }
      // Names are NUL-terminated inside the table (the last byte is NUL).
      if (strs[strtab->sh_size - 1] != '\0') break;
      if (is_runtime_symbol(strs + s.st_name)) {
        out->push_back({bias + s.st_value, bias + s.st_value + s.st_size});
      }
    }
  } while (false);
  sys::munmap(const_cast<char*>(base), size);
  return source;
}

struct LoadedObject {
  std::string path;
  uintptr_t bias;
  const ElfW(Phdr) * phdrs;
  int phnum;
};

struct ObjectScan {
  std::vector<LoadedObject> objects;  // [0] is the main program
  bool libc_shared = false;
};

int collect_object(dl_phdr_info* info, size_t, void* data) {
  auto* scan = static_cast<ObjectScan*>(data);
  bool is_main = scan->objects.empty();  // glibc lists the program first
  const char* name = info->dlpi_name != nullptr ? info->dlpi_name : "";
  if (std::strstr(name, "/libc.so") != nullptr ||
      std::strncmp(name, "libc.so", 7) == 0) {
    scan->libc_shared = true;
  }
  if (is_main) {
    for (int i = 0; i < info->dlpi_phnum; i++) {
      const ElfW(Phdr)& ph = info->dlpi_phdr[i];
      if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) != 0 &&
          g_exe_text_n < kMaxExeSegments) {
        g_exe_text[g_exe_text_n++] = {
            info->dlpi_addr + ph.p_vaddr,
            info->dlpi_addr + ph.p_vaddr + ph.p_memsz};
      }
    }
    scan->objects.push_back(
        {"/proc/self/exe", info->dlpi_addr, info->dlpi_phdr, info->dlpi_phnum});
    return 0;
  }
  // System libraries cannot hold the runtime; the vDSO has no file.
  if (name[0] != '/' || std::strncmp(name, "/lib/", 5) == 0 ||
      std::strncmp(name, "/lib64/", 7) == 0 ||
      std::strncmp(name, "/usr/lib", 8) == 0) {
    return 0;
  }
  scan->objects.push_back({name, info->dlpi_addr, nullptr, 0});
  return 0;
}

// Finds the main program's text and the runtime's functions. Returns true
// if the main program's own symbol table was read (so its code can be
// classified) and libc is a shared object.
bool init_text_ranges() {
  ObjectScan scan;
  dl_iterate_phdr(collect_object, &scan);
  // At most kMaxExeSegments: an insertion sort.
  for (int i = 1; i < g_exe_text_n; i++) {
    for (int j = i; j > 0 && g_exe_text[j].lo < g_exe_text[j - 1].lo; j--) {
      std::swap(g_exe_text[j], g_exe_text[j - 1]);
    }
  }
  std::vector<TextRange> ranges;
  bool main_ok = false;
  for (size_t i = 0; i < scan.objects.size(); i++) {
    const LoadedObject& o = scan.objects[i];
    SymbolSource src =
        scan_symbols(o.path.c_str(), o.bias, o.phdrs, o.phnum, &ranges);
    if (i == 0) main_ok = src == SymbolSource::kSymtab;
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const TextRange& a, const TextRange& b) { return a.lo < b.lo; });
  // Merge overlaps (aliases, nested local symbols) so the search is exact.
  size_t n = 0;
  for (const TextRange& r : ranges) {
    if (n > 0 && r.lo <= ranges[n - 1].hi) {
      ranges[n - 1].hi = std::max(ranges[n - 1].hi, r.hi);
    } else {
      ranges[n++] = r;
    }
  }
  auto* table = new TextRange[n > 0 ? n : 1];  // never freed: the handler's
  std::copy(ranges.begin(), ranges.begin() + static_cast<long>(n), table);
  g_runtime_text = table;
  g_runtime_text_n = n;
  return main_ok && scan.libc_shared && g_exe_text_n > 0;
}

// ---- SIMD state ----------------------------------------------------------

void init_fpstate() {
  unsigned eax, ebx, ecx, edx;
  __cpuid(1, eax, ebx, ecx, edx);
  if ((ecx & bit_OSXSAVE) == 0) {  // no XSAVE enabled by the OS: FXSAVE
    gort_preempt_use_xsave = 0;
    gort_preempt_fpstate_size = 512;
    return;
  }
  uint32_t xcr0_lo, xcr0_hi;
  asm volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  uint64_t mask = ((uint64_t{xcr0_hi} << 32) | xcr0_lo) & kSavedComponents;
  uint64_t size = 512 + 64;  // legacy area + XSAVE header
  for (unsigned i = 2; i < 64; i++) {
    if ((mask & (1ULL << i)) == 0) continue;
    __cpuid_count(0xD, i, eax, ebx, ecx, edx);  // eax: size, ebx: offset
    size = std::max<uint64_t>(size, uint64_t{ebx} + eax);
  }
  gort_preempt_use_xsave = 1;
  gort_preempt_xsave_mask_lo = static_cast<uint32_t>(mask);
  gort_preempt_xsave_mask_hi = static_cast<uint32_t>(mask >> 32);
  gort_preempt_fpstate_size = (size + 63) & ~uint64_t{63};
}

// ---- the handler ---------------------------------------------------------

// True if the signal frame's saved FP state shows AMX tile state in use
// (the kernel's xsave area follows the FXSAVE image; its software bytes at
// 464 carry FP_XSTATE_MAGIC1 when it does, arch/x86/include/uapi/asm/
// sigcontext.h).
bool amx_live(const ucontext_t* uc) {
  const auto* fx = reinterpret_cast<const char*>(uc->uc_mcontext.fpregs);
  if (fx == nullptr) return false;
  uint32_t magic;
  std::memcpy(&magic, fx + 464, sizeof(magic));
  if (magic != 0x46505853U) return false;  // FP_XSTATE_MAGIC1: no xsave area
  uint64_t xstate_bv;
  std::memcpy(&xstate_bv, fx + 512, sizeof(xstate_bv));
  return (xstate_bv & kAmxComponents) != 0;
}

bool preemptible_pc(uintptr_t pc) {
  bool in_exe = false;
  for (int i = 0; i < g_exe_text_n; i++) {
    in_exe |= pc >= g_exe_text[i].lo && pc < g_exe_text[i].hi;
  }
  return in_exe && !in_ranges(g_runtime_text, g_runtime_text_n, pc);
}

// Decides, and redirects `uc` to gort_async_preempt when the point is
// async-safe (the rules in the essay, in order).
void try_async_preempt(ucontext_t* uc) {
  M* m = getm();
  G* g = m != nullptr ? m->curg : nullptr;
  if (g == nullptr || !g->preempt.load(std::memory_order_relaxed) ||
      g->status.load(std::memory_order_relaxed) != GStatus::kRunning) {
    return bump(g_counters.declined_no_g);
  }
  if (m->locks.load(std::memory_order_relaxed) != 0) {
    return bump(g_counters.declined_locks);
  }
  greg_t* gregs = uc->uc_mcontext.gregs;
  const auto pc = static_cast<uintptr_t>(gregs[REG_RIP]);
  const auto sp = static_cast<uintptr_t>(gregs[REG_RSP]);
  if (!preemptible_pc(pc)) return bump(g_counters.declined_pc);
  const Stack* st = g->stack;
  if (st == nullptr || sp > st->hi || sp < st->lo + g_headroom) {
    return bump(g_counters.declined_stack);
  }
  const auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  if ((here >= st->lo - kPageSize && here < st->hi) || amx_live(uc)) {
    return bump(g_counters.declined_state);
  }
  // Push the interrupted RIP below the red zone, as a call there would.
  // An asm store: under ASan the G's stack below SP may hold stale shadow
  // poison from frames that are gone, which an instrumented store reports.
  const uintptr_t new_sp = sp - kRedZone - sizeof(uintptr_t);
  asm volatile("movq %1, (%0)" : : "r"(new_sp), "r"(pc) : "memory");
  gregs[REG_RSP] = static_cast<greg_t>(new_sp);
  gregs[REG_RIP] = reinterpret_cast<greg_t>(&gort_async_preempt);
}

void sigurg_handler(int, siginfo_t*, void* ctx) {
  int saved_errno = errno;
  try_async_preempt(static_cast<ucontext_t*>(ctx));
  errno = saved_errno;
}

// The calling thread's errno slot, looked up anew on every call: libc
// declares __errno_location const, so two uses of errno in one function may
// share one lookup even across a switch to another thread.
[[gnu::noinline]] int* errno_slot() {
  asm volatile("");
  return &errno;
}

intptr_t thread_pointer() {
  intptr_t tp;
  asm volatile("movq %%fs:0, %0" : "=r"(tp));
  return tp;
}

intptr_t flag_tls_offset_here() {
  return reinterpret_cast<intptr_t>(&preempt_internal::t_preempt_flag) -
         thread_pointer();
}

}  // namespace

// ---- within //sched ------------------------------------------------------

void initsig() {
  preempt_internal::g_flag_tls_offset.store(flag_tls_offset_here(),
                                            std::memory_order_relaxed);
  g_pid = static_cast<int32_t>(sys::getpid());
  install_stack_guard();
  bool ranges_ok = init_text_ranges();
  init_fpstate();
  g_headroom = kRedZone + sizeof(uintptr_t) + 16 * sizeof(uintptr_t) + 64 +
               gort_preempt_fpstate_size + kYieldPathStack;
  bool supported = !kTsan && ranges_ok;
  if (supported) {
    GORT_CHECK(sys::install_signal_handler(SIGURG, sigurg_handler) == 0);
  }
  g_enabled.store(supported && sys::env().godebug.asyncpreemptoff == 0,
                  std::memory_order_relaxed);
  g_supported.store(supported, std::memory_order_release);
}

void minit(M* m) {
  // The offset initsig computed on its thread must hold on this one, or
  // preempt_flag_set would read some other word of this thread's TLS.
  GORT_CHECK(flag_tls_offset_here() == preempt_internal::g_flag_tls_offset.load(
                                           std::memory_order_relaxed));
  (void)m;
}

void preempt_m(M* m) {
  if (!g_enabled.load(std::memory_order_relaxed)) return;
  int32_t tid = m->tid;
  if (tid == 0) return;
  // tgkill, not tkill: a retired M's tid may since belong to a thread of
  // another process; tgkill then fails with ESRCH instead of hitting it.
  if (!sys::is_error(sys::tgkill(g_pid, tid, SIGURG))) {
    bump(g_counters.signals_sent);
  }
}

bool is_runtime_pc(uintptr_t pc) {
  return in_ranges(g_runtime_text, g_runtime_text_n, pc);
}

bool is_preemptible_pc(uintptr_t pc) {
  return g_supported.load(std::memory_order_acquire) && preemptible_pc(pc);
}

// ---- public --------------------------------------------------------------

bool async_preempt_supported() {
  schedinit();
  return g_supported.load(std::memory_order_acquire);
}

bool async_preempt_enabled() {
  schedinit();
  return g_enabled.load(std::memory_order_relaxed);
}

bool set_async_preempt_enabled(bool enabled) {
  schedinit();
  bool on = enabled && g_supported.load(std::memory_order_acquire);
  return g_enabled.exchange(on, std::memory_order_relaxed);
}

// Reads p->m and m->curg of Ps it does not own, as sysmon does: hints (a
// stale answer asks the wrong G, which only yields once early).
int preempt_running() {
  schedinit();
  Sched& s = sched();
  int n = 0;
  sys::MutexLock l(s.lock);
  int32_t procs = s.gomaxprocs.load(std::memory_order_relaxed);
  for (int32_t i = 0; i < procs; i++) {
    P* p = s.allp[i];
    if (p->status.load(std::memory_order_acquire) != PStatus::kRunning)
      continue;
    M* m = relaxed_load(p->m);
    if (m == nullptr || relaxed_load(m->curg) == nullptr) continue;
    preemptone(p);
    n++;
  }
  return n;
}

PreemptStats preempt_stats() {
  PreemptStats st;
  st.signals_sent = g_counters.signals_sent.load(std::memory_order_relaxed);
  st.preemptions = g_counters.preemptions.load(std::memory_order_relaxed);
  st.declined_no_g = g_counters.declined_no_g.load(std::memory_order_relaxed);
  st.declined_locks = g_counters.declined_locks.load(std::memory_order_relaxed);
  st.declined_pc = g_counters.declined_pc.load(std::memory_order_relaxed);
  st.declined_stack = g_counters.declined_stack.load(std::memory_order_relaxed);
  st.declined_state = g_counters.declined_state.load(std::memory_order_relaxed);
  return st;
}

// Load and store, not an RMW: only the M's own thread writes m->locks (and
// the handler that reads it runs on that thread).
NoAsyncPreempt::NoAsyncPreempt() : m_(getm()) {
  if (m_ == nullptr) return;
  m_->locks.store(m_->locks.load(std::memory_order_relaxed) + 1,
                  std::memory_order_relaxed);
}

NoAsyncPreempt::~NoAsyncPreempt() {
  if (m_ == nullptr) return;
  GORT_CHECK(getm() == m_);  // the scope parked or yielded: see REQUIRES
  m_->locks.store(m_->locks.load(std::memory_order_relaxed) - 1,
                  std::memory_order_relaxed);
}

}  // namespace gort::sched

// Called by gort_async_preempt on the G's stack, with the interrupted
// registers saved below: yields as a preempted G (global run queue) and
// returns when the G runs again, maybe on another thread.
extern "C" void gort_async_preempt_yield() {
  using namespace gort::sched;
  int saved_errno = *errno_slot();
  bump(g_counters.preemptions);
  gosched(MOp::kPreempt);
  *errno_slot() = saved_errno;  // errno is per thread: carry it with the G
}
