/* Interpreter: a stack-based bytecode VM with locals, calls and a switch
 * dispatch loop. The bytecode computes, for k = 1..n, the Collatz step count
 * of k, plus a recursive fib(16) every 64 values of k, summing everything.
 * Returns that sum mixed with the executed-instruction count. */
#include "common.h"

enum {
    OP_PUSH, OP_LOAD, OP_STORE, OP_ADD, OP_SUB, OP_MUL, OP_DIVU, OP_REMU, OP_AND,
    OP_SHR, OP_LT, OP_EQ, OP_JMP, OP_JZ, OP_JNZ, OP_CALL, OP_RET, OP_POP, OP_DUP,
    OP_HALT,
};

#define STACK 4096
#define FRAMES 512
#define NLOCALS 8

typedef struct { i32 ret_pc; i32 base; } frame;

static i64 stack[STACK];
static i64 locals[FRAMES * NLOCALS];
static frame frames[FRAMES];

/* The program (operands follow PUSH/LOAD/STORE/JMP/JZ/JNZ/CALL):
 *   main(n):  l0 = n, l1 = 1 (k), l2 = 0 (sum)
 *     LOOP:  if l0 < l1 goto DONE
 *            l3 = l1; l4 = 0
 *     C:     if l3 == 1 goto CDONE
 *            if (l3 & 1) == 0 goto EVEN
 *            l3 = 3*l3 + 1; goto INC
 *     EVEN:  l3 = l3 >> 1
 *     INC:   l4 = l4 + 1; goto C
 *     CDONE: l2 = l2 + l4
 *            if (l1 & 63) != 0 goto NEXT
 *            l2 = l2 + fib(16)
 *     NEXT:  l1 = l1 + 1; goto LOOP
 *     DONE:  push l2; halt
 *   FIB(x):  if x < 2 return x; return fib(x-1) + fib(x-2)
 */
#define LOOP 10
#define C 25
#define EVEN 51
#define INC 58
#define CDONE 67
#define NEXT 90
#define DONE 99
#define FIB 102
#define REC 114
static const i32 prog[] = {
    /* 0 */ OP_STORE, 0, OP_PUSH, 1, OP_STORE, 1, OP_PUSH, 0, OP_STORE, 2,
    /* LOOP 10 */ OP_LOAD, 0, OP_LOAD, 1, OP_LT, OP_JNZ, DONE,
    /* 17 */ OP_LOAD, 1, OP_STORE, 3, OP_PUSH, 0, OP_STORE, 4,
    /* C 25 */ OP_LOAD, 3, OP_PUSH, 1, OP_EQ, OP_JNZ, CDONE,
    /* 32 */ OP_LOAD, 3, OP_PUSH, 1, OP_AND, OP_JZ, EVEN,
    /* 39 */ OP_LOAD, 3, OP_PUSH, 3, OP_MUL, OP_PUSH, 1, OP_ADD, OP_STORE, 3, OP_JMP, INC,
    /* EVEN 51 */ OP_LOAD, 3, OP_PUSH, 1, OP_SHR, OP_STORE, 3,
    /* INC 58 */ OP_LOAD, 4, OP_PUSH, 1, OP_ADD, OP_STORE, 4, OP_JMP, C,
    /* CDONE 67 */ OP_LOAD, 2, OP_LOAD, 4, OP_ADD, OP_STORE, 2,
    /* 74 */ OP_LOAD, 1, OP_PUSH, 63, OP_AND, OP_JNZ, NEXT,
    /* 81 */ OP_PUSH, 16, OP_CALL, FIB, OP_LOAD, 2, OP_ADD, OP_STORE, 2,
    /* NEXT 90 */ OP_LOAD, 1, OP_PUSH, 1, OP_ADD, OP_STORE, 1, OP_JMP, LOOP,
    /* DONE 99 */ OP_LOAD, 2, OP_HALT,
    /* FIB 102 */ OP_STORE, 0, OP_LOAD, 0, OP_PUSH, 2, OP_LT, OP_JZ, REC,
    /* 111 */ OP_LOAD, 0, OP_RET,
    /* REC 114 */ OP_LOAD, 0, OP_PUSH, 1, OP_SUB, OP_CALL, FIB,
    /* 121 */ OP_LOAD, 0, OP_PUSH, 2, OP_SUB, OP_CALL, FIB, OP_ADD, OP_RET,
};
_Static_assert(sizeof(prog) / sizeof(prog[0]) == 130, "label offsets are stale");

static i64 exec(i64 arg, u64 *steps_out) {
    i32 pc = 0, sp = 0, fp = 0, base = 0;
    u64 steps = 0;
    stack[sp++] = arg;
    for (;;) {
        steps++;
        i32 op = prog[pc++];
        switch (op) {
        case OP_PUSH: stack[sp++] = prog[pc++]; break;
        case OP_LOAD: stack[sp++] = locals[base + prog[pc++]]; break;
        case OP_STORE: locals[base + prog[pc++]] = stack[--sp]; break;
        case OP_ADD: sp--; stack[sp - 1] += stack[sp]; break;
        case OP_SUB: sp--; stack[sp - 1] -= stack[sp]; break;
        case OP_MUL: sp--; stack[sp - 1] *= stack[sp]; break;
        case OP_DIVU: sp--; stack[sp - 1] = (i64)((u64)stack[sp - 1] / (u64)stack[sp]); break;
        case OP_REMU: sp--; stack[sp - 1] = (i64)((u64)stack[sp - 1] % (u64)stack[sp]); break;
        case OP_AND: sp--; stack[sp - 1] &= stack[sp]; break;
        case OP_SHR: sp--; stack[sp - 1] = (i64)((u64)stack[sp - 1] >> stack[sp]); break;
        case OP_LT: sp--; stack[sp - 1] = stack[sp - 1] < stack[sp]; break;
        case OP_EQ: sp--; stack[sp - 1] = stack[sp - 1] == stack[sp]; break;
        case OP_JMP: pc = prog[pc]; break;
        case OP_JZ: if (stack[--sp] == 0) pc = prog[pc]; else pc++; break;
        case OP_JNZ: if (stack[--sp] != 0) pc = prog[pc]; else pc++; break;
        case OP_CALL:
            if (fp + 2 >= FRAMES || sp >= STACK - 8) return -1;
            frames[fp].ret_pc = pc + 1;
            frames[fp].base = base;
            fp++;
            base = fp * NLOCALS;
            pc = prog[pc];
            break;
        case OP_RET:
            if (fp == 0) return -1;
            fp--;
            pc = frames[fp].ret_pc;
            base = frames[fp].base;
            break;
        case OP_POP: sp--; break;
        case OP_DUP: stack[sp] = stack[sp - 1]; sp++; break;
        case OP_HALT: *steps_out = steps; return stack[sp - 1];
        default: return -1;
        }
    }
}

EXPORT("run") i64 run(i32 n) {
    u64 steps = 0;
    i64 sum = exec(n, &steps);
    return sum ^ (i64)(steps << 20);
}
