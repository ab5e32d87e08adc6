/*
 * bytecode - a small register-machine interpreter with `switch` dispatch.
 *
 * The VM has 16 64-bit registers, 256 words of data memory, a call stack
 * and 4-byte instructions {op, a, b, c}; `imm` is the signed 16-bit value
 * of bytes b and c. The opcodes are dense, so the compiler turns the
 * dispatch `switch` into a jump table (an indirect jump per instruction).
 *
 * The program runs N iterations of a loop that advances a Fibonacci pair
 * (mod 2^64), stores it into a ring buffer in data memory, reads an older
 * entry back and folds both into a checksum through a called subroutine
 * (rotate, multiply, xor, divide by a data-dependent odd divisor).
 *
 * Arguments: u32 LE N (default 150000).
 * Output (24 bytes), u64 LE: the checksum, fib(N) mod 2^64, and the number
 * of VM instructions executed.
 */
#include "javm_guest.h"

#define DEFAULT_N 150000u

enum op {
    OP_HALT,
    OP_LI,    /* r[a] = imm                                 */
    OP_LUI,   /* r[a] = (r[a] << 16) | (uint16_t)imm        */
    OP_MOV,   /* r[a] = r[b]                                */
    OP_ADD,   /* r[a] = r[b] + r[c]                         */
    OP_SUB,   /* r[a] = r[b] - r[c]                         */
    OP_MUL,   /* r[a] = r[b] * r[c]                         */
    OP_DIVU,  /* r[a] = r[b] / r[c]  (all ones if r[c] = 0) */
    OP_REMU,  /* r[a] = r[b] % r[c]  (r[b] if r[c] = 0)     */
    OP_AND,   /* r[a] = r[b] & r[c]                         */
    OP_OR,    /* r[a] = r[b] | r[c]                         */
    OP_XOR,   /* r[a] = r[b] ^ r[c]                         */
    OP_SHL,   /* r[a] = r[b] << (r[c] & 63)                 */
    OP_SHR,   /* r[a] = r[b] >> (r[c] & 63)                 */
    OP_ROTL,  /* r[a] = rotl(r[b], c)                       */
    OP_ADDI,  /* r[a] += imm                                */
    OP_ANDI,  /* r[a] = r[b] & c                            */
    OP_LOAD,  /* r[a] = mem[(r[b] + c) & 255]               */
    OP_STORE, /* mem[(r[b] + c) & 255] = r[a]               */
    OP_JMP,   /* pc += imm                                  */
    OP_JNZ,   /* if r[a] != 0: pc += imm                    */
    OP_JZ,    /* if r[a] == 0: pc += imm                    */
    OP_JLTU,  /* if r[a] < r[b]: pc += (int8_t)c            */
    OP_CALL,  /* push pc; pc += imm                         */
    OP_RET,   /* pc = pop                                   */
    OP_COUNT
};

typedef struct {
    uint8_t op, a, b, c;
} insn;

#define I(op, a, b, c) { OP_##op, (a), (b), (c) }
/* imm16 form: the immediate goes into bytes b (low) and c (high) */
#define IMM(op, a, v) { OP_##op, (a), (uint8_t)((v) & 0xff), (uint8_t)(((v) >> 8) & 0xff) }

/*
 * Registers: r1 = loop counter (N on entry), r2/r3 = Fibonacci pair,
 * r4 = checksum, r5 = ring index, r6 = temp, r7 = multiplier, r8 = loaded
 * word, r9 = divisor, r10 = quotient, r11 = temp.
 */
static const insn program[] = {
    /* 0 */ IMM(LI, 2, 0),
    /* 1 */ IMM(LI, 3, 1),
    /* 2 */ IMM(LI, 4, 0),
    /* 3 */ IMM(LI, 5, 0),
    /* 4 */ IMM(LI, 7, 0x9e37),      /* r7 = 0x9e3779b97f4a7c15 */
    /* 5 */ IMM(LUI, 7, 0x79b9),
    /* 6 */ IMM(LUI, 7, 0x7f4a),
    /* 7 */ IMM(LUI, 7, 0x7c15),
    /* 8 */ IMM(JZ, 1, 14),           /* N == 0: skip the loop -> 23 */
    /* loop: */
    /* 9 */ I(ADD, 6, 2, 3),
    /* 10 */ I(MOV, 2, 3, 0),
    /* 11 */ I(MOV, 3, 6, 0),
    /* 12 */ I(STORE, 6, 5, 0),        /* mem[r5] = new fib */
    /* 13 */ I(LOAD, 8, 5, 37),        /* r8 = mem[r5 + 37] (older entry) */
    /* 14 */ IMM(CALL, 0, 9),          /* -> 24 */
    /* 15 */ IMM(ADDI, 5, 1),
    /* 16 */ I(ANDI, 5, 5, 255),
    /* 17 */ IMM(ADDI, 1, -1),
    /* 18 */ I(JLTU, 1, 0, 2),         /* r1 < r0 (= 0) never: fall through */
    /* 19 */ IMM(JNZ, 1, -11),         /* -> 9 */
    /* 20 */ IMM(JMP, 0, 2),           /* -> 23 */
    /* 21 */ I(HALT, 0, 0, 0),         /* unreachable */
    /* 22 */ I(HALT, 0, 0, 0),
    /* 23 */ I(HALT, 0, 0, 0),
    /* mix subroutine: r4 = mix(r4, r6, r8) */
    /* 24 */ I(ROTL, 4, 4, 13),
    /* 25 */ I(XOR, 4, 4, 6),
    /* 26 */ I(MUL, 4, 4, 7),
    /* 27 */ I(XOR, 11, 8, 2),
    /* 28 */ IMM(LI, 9, 1),
    /* 29 */ I(OR, 9, 9, 11),         /* odd divisor r9 = r11 | 1 */
    /* 30 */ I(SHR, 11, 4, 9),        /* r11 = r4 >> (r9 & 63) */
    /* 31 */ I(DIVU, 10, 4, 9),
    /* 32 */ I(REMU, 11, 11, 9),
    /* 33 */ I(ADD, 4, 4, 10),
    /* 34 */ I(SUB, 4, 4, 11),
    /* 35 */ I(SHL, 11, 8, 5),
    /* 36 */ I(AND, 11, 11, 7),
    /* 37 */ I(XOR, 4, 4, 11),
    /* 38 */ I(RET, 0, 0, 0),
};

#define NPROG (sizeof program / sizeof program[0])

typedef struct {
    uint64_t reg[16];
    uint64_t mem[256];
    uint32_t stack[64];
    uint64_t steps;
} vm;

static vm machine;
static uint8_t out[24];

static inline int64_t imm16(const insn *i)
{
    return (int16_t)(uint16_t)(i->b | (i->c << 8));
}

/* Runs until HALT, a bad pc or a stack overflow; returns the step count. */
static void execute(vm *m)
{
    uint64_t *r = m->reg;
    uint64_t pc = 0, sp = 0, steps = 0;
    while (pc < NPROG) {
        const insn *i = &program[pc++];
        steps++;
        switch (i->op) {
        case OP_HALT:
            m->steps = steps;
            return;
        case OP_LI:
            r[i->a] = (uint64_t)imm16(i);
            break;
        case OP_LUI:
            r[i->a] = (r[i->a] << 16) | (uint16_t)imm16(i);
            break;
        case OP_MOV:
            r[i->a] = r[i->b];
            break;
        case OP_ADD:
            r[i->a] = r[i->b] + r[i->c];
            break;
        case OP_SUB:
            r[i->a] = r[i->b] - r[i->c];
            break;
        case OP_MUL:
            r[i->a] = r[i->b] * r[i->c];
            break;
        case OP_DIVU:
            r[i->a] = r[i->c] ? r[i->b] / r[i->c] : ~(uint64_t)0;
            break;
        case OP_REMU:
            r[i->a] = r[i->c] ? r[i->b] % r[i->c] : r[i->b];
            break;
        case OP_AND:
            r[i->a] = r[i->b] & r[i->c];
            break;
        case OP_OR:
            r[i->a] = r[i->b] | r[i->c];
            break;
        case OP_XOR:
            r[i->a] = r[i->b] ^ r[i->c];
            break;
        case OP_SHL:
            r[i->a] = r[i->b] << (r[i->c] & 63);
            break;
        case OP_SHR:
            r[i->a] = r[i->b] >> (r[i->c] & 63);
            break;
        case OP_ROTL:
            r[i->a] = javm_rotl64(r[i->b], i->c);
            break;
        case OP_ADDI:
            r[i->a] += (uint64_t)imm16(i);
            break;
        case OP_ANDI:
            r[i->a] = r[i->b] & i->c;
            break;
        case OP_LOAD:
            r[i->a] = m->mem[(r[i->b] + i->c) & 255];
            break;
        case OP_STORE:
            m->mem[(r[i->b] + i->c) & 255] = r[i->a];
            break;
        case OP_JMP:
            pc += (uint64_t)imm16(i);
            break;
        case OP_JNZ:
            if (r[i->a] != 0)
                pc += (uint64_t)imm16(i);
            break;
        case OP_JZ:
            if (r[i->a] == 0)
                pc += (uint64_t)imm16(i);
            break;
        case OP_JLTU:
            if (r[i->a] < r[i->b])
                pc += (uint64_t)(int64_t)(int8_t)i->c;
            break;
        case OP_CALL:
            if (sp == 64) {
                m->steps = steps;
                return;
            }
            m->stack[sp++] = (uint32_t)pc;
            pc += (uint64_t)imm16(i);
            break;
        case OP_RET:
            if (sp == 0) {
                m->steps = steps;
                return;
            }
            pc = m->stack[--sp];
            break;
        default:
            m->steps = steps;
            return;
        }
        /* r0 is hard-wired to zero */
        r[0] = 0;
    }
    m->steps = steps;
}

static javm_output run(const uint8_t *args, uint64_t args_len)
{
    uint64_t n = javm_arg_u32(args, args_len, 0, DEFAULT_N);
    memset(&machine, 0, sizeof machine);
    machine.reg[1] = n;
    execute(&machine);
    javm_store_le64(out, machine.reg[4]);
    javm_store_le64(out + 8, machine.reg[2]);
    javm_store_le64(out + 16, machine.steps);
    return javm_out(out, sizeof out);
}

JAVM_GUEST(bytecode, run)
