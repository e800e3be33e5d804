// sys/context_x86_64.S: the x86-64 System V context switch and the first
// frame of a new context. The frame layout, and why these registers, are
// explained at the top of sys/context.cc; the C++ side that builds a new
// context's first frame (make_context) must agree with the offsets here.
//
//   uintptr_t gort_context_switch(void** save_sp,   // %rdi
//                                 void* load_sp,    // %rsi
//                                 uintptr_t value)  // %rdx
//
// Frame pushed on the suspended stack (offsets from the saved sp):
//   56 return address    48 rbp    40 rbx    32 r12
//   24 r13    16 r14    8 r15    4 x87 control word (2 bytes)    0 MXCSR

#if defined(__x86_64__)

        .text
        .globl  gort_context_switch
        .type   gort_context_switch, @function
        .p2align 4
gort_context_switch:
        .cfi_startproc
        pushq   %rbp
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbp, 0
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbx, 0
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
        subq    $8, %rsp
        .cfi_adjust_cfa_offset 8
        stmxcsr (%rsp)
        fnstcw  4(%rsp)

        // The switch. The resumed stack holds a frame of the same shape, so
        // the CFI above stays true for it.
        movq    %rsp, (%rdi)
        movq    %rsi, %rsp

        ldmxcsr (%rsp)
        fldcw   4(%rsp)
        addq    $8, %rsp
        .cfi_adjust_cfa_offset -8
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
        popq    %rbx
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbx
        popq    %rbp
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbp
        movq    %rdx, %rax
        // Return by pop + indirect jump, not `ret`: the return stack buffer
        // predicts a `ret` to the caller of this call, which is the other
        // context's, so every `ret` here would mispredict; the indirect
        // predictor learns where this jump goes. (Numbers: sys/context.cc.)
        popq    %rcx
        .cfi_adjust_cfa_offset -8
        .cfi_register %rip, %rcx
        jmp     *%rcx
        .cfi_endproc
        .size   gort_context_switch, .-gort_context_switch

// The first code a new context runs: the switch that first resumes it
// "returns" here. make_context left the entry's arguments in
// callee-saved slots of the first frame, so they are in registers now:
//   %r12 = start function   (gort::sys::(anonymous)::start)
//   %r13 = user entry        %r14 = user arg        %r15 = Context*
//   %rax = the value passed by that first switch
// %rsp is 16-byte aligned here (the first frame's return-address slot was
// the top 8 bytes of a 16-aligned stack top, and has been popped), so after
// the call pushes its return address the start function sees
// %rsp = 8 mod 16, as the ABI requires at function entry. %rbp is 0 and the return address is
// undefined, so frame-pointer and DWARF unwinders both stop here.
        .globl  gort_context_trampoline
        .hidden gort_context_trampoline
        .type   gort_context_trampoline, @function
        .p2align 4
gort_context_trampoline:
        .cfi_startproc
        .cfi_undefined %rip
        movq    %r13, %rdi
        movq    %r14, %rsi
        movq    %rax, %rdx
        movq    %r15, %rcx
        call    *%r12
        // The start function never returns (it aborts if the entry does).
        ud2
        .cfi_endproc
        .size   gort_context_trampoline, .-gort_context_trampoline

#endif  // __x86_64__

        .section .note.GNU-stack,"",@progbits
