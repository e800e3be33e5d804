// sched/preempt_x86_64.S: where an asynchronously preempted goroutine goes
// (the design is in sched/preempt.cc; Go's counterpart is asyncPreempt in
// runtime/preempt_amd64.s).
//
//   void gort_async_preempt()   -- never called; entered by sigreturn
//
// Entry state, set up by the SIGURG handler: every register, the flags and
// the SIMD state exactly as the interrupted code left them, except
//   rsp   = interrupted rsp - 128 (red zone) - 8
//   [rsp] = interrupted rip
// i.e. as if the interrupted instruction had been a `call` made after
// stepping over the red zone. The routine saves the flags and all 15
// general registers (rsp is implied), aligns the stack down to 64, saves
// the SIMD state there (XSAVE with the mask in gort_preempt_xsave_mask_*,
// or FXSAVE64; chosen and sized by initsig), calls gort_async_preempt_yield
// (which yields and returns when the goroutine runs again, maybe on another
// thread), restores everything in reverse and returns with `ret $128`,
// which pops the interrupted rip and steps back over the red zone: rsp is
// the interrupted rsp again.
//
// Frame, from the entry rsp (E) downwards:
//   E+8 .. E+136  the interrupted code's red zone (untouched)
//   E+0           interrupted rip
//   E-8           rflags
//   E-16 .. E-128 rax rbx rcx rdx rsi rdi rbp r8 r9 r10 r11 r12 r13 r14 r15
//   below         padding to 64, then the XSAVE/FXSAVE area (its size)
// rbx keeps E-128 across the call (callee-saved in the ABI).
//
// Unwinding (debuggers, sanitizers' stack traces): the CFA is the
// interrupted rsp (E + 136), the return address is at CFA - 136, and the
// frame is marked a signal frame, so unwinders do not subtract one from the
// interrupted rip (it is not a return address after a call).

#if defined(__x86_64__)

        .text
        .globl  gort_async_preempt
        .type   gort_async_preempt, @function
        .p2align 4
gort_async_preempt:
        .cfi_startproc
        .cfi_signal_frame
        .cfi_def_cfa %rsp, 136
        .cfi_offset %rip, -136
        pushfq
        .cfi_adjust_cfa_offset 8
        pushq   %rax
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rax, 0
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbx, 0
        pushq   %rcx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rcx, 0
        pushq   %rdx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rdx, 0
        pushq   %rsi
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rsi, 0
        pushq   %rdi
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rdi, 0
        pushq   %rbp
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbp, 0
        pushq   %r8
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r8, 0
        pushq   %r9
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r9, 0
        pushq   %r10
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r10, 0
        pushq   %r11
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r11, 0
        pushq   %r12
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r12, 0
        pushq   %r13
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r13, 0
        pushq   %r14
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r14, 0
        pushq   %r15
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r15, 0
        // 16 words pushed: rsp = E - 128, CFA = rsp + 264.
        movq    %rsp, %rbx
        .cfi_def_cfa_register %rbx
        // The ABI requires DF clear at a call; the interrupted code may have
        // set it (the saved rflags restores it on the way out).
        cld
        subq    gort_preempt_fpstate_size(%rip), %rsp
        andq    $-64, %rsp
        cmpl    $0, gort_preempt_use_xsave(%rip)
        je      1f
        // XRSTOR (standard form) faults unless bytes 8..63 of the XSAVE
        // header are zero, and XSAVE writes only XSTATE_BV's requested
        // bits: clear the whole 64-byte header first.
        xorl    %eax, %eax
        movq    %rax, 512(%rsp)
        movq    %rax, 520(%rsp)
        movq    %rax, 528(%rsp)
        movq    %rax, 536(%rsp)
        movq    %rax, 544(%rsp)
        movq    %rax, 552(%rsp)
        movq    %rax, 560(%rsp)
        movq    %rax, 568(%rsp)
        movl    gort_preempt_xsave_mask_lo(%rip), %eax
        movl    gort_preempt_xsave_mask_hi(%rip), %edx
        xsave64 (%rsp)
        jmp     2f
1:
        fxsave64 (%rsp)
2:
        // rsp is 64-aligned here, so 16-aligned at the call, as the ABI wants.
        call    gort_async_preempt_yield
        cmpl    $0, gort_preempt_use_xsave(%rip)
        je      3f
        movl    gort_preempt_xsave_mask_lo(%rip), %eax
        movl    gort_preempt_xsave_mask_hi(%rip), %edx
        xrstor64 (%rsp)
        jmp     4f
3:
        fxrstor64 (%rsp)
4:
        movq    %rbx, %rsp
        .cfi_def_cfa_register %rsp
        popq    %r15
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r15
        popq    %r14
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r14
        popq    %r13
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r13
        popq    %r12
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r12
        popq    %r11
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r11
        popq    %r10
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r10
        popq    %r9
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r9
        popq    %r8
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r8
        popq    %rbp
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbp
        popq    %rdi
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rdi
        popq    %rsi
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rsi
        popq    %rdx
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rdx
        popq    %rcx
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rcx
        popq    %rbx
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbx
        popq    %rax
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rax
        popfq
        .cfi_adjust_cfa_offset -8
        ret     $128
        .cfi_endproc
        .size   gort_async_preempt, .-gort_async_preempt

#endif  // __x86_64__

        .section .note.GNU-stack,"",@progbits
