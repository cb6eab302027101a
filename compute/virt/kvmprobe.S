# Source of compute/virt/kvmprobe.py PROBE_IMAGE (a multiboot "a.out kludge" flat image):
#   as --32 -o p.o kvmprobe.S && ld -m elf_i386 -Ttext=0x100000 -o p.elf p.o &&
#   objcopy -O binary -j .text p.elf p.bin
# tests/unit/compute/test_kvmprobe.py checks the bytes when binutils is installed.
# Long-mode probe: multiboot entry in 32-bit protected mode, identity-map the first
# GiB with 2 MiB pages, enable PAE + long mode + paging, jump to 64-bit code, write
# to isa-debug-exit (port 0xf4) -> qemu exits with status 3.
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00010000          # bit 16: address fields valid (a.out kludge)
        .section .text
        .code32
        .globl _start
        .align 4
mb_header:
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)
        .long mb_header                     # header_addr
        .long mb_header                     # load_addr
        .long 0                             # load_end_addr: whole file
        .long _end                          # bss_end_addr: tables past the image
        .long _start                        # entry_addr
_start:
        cli
        movl $pml4, %edi                    # zero the three tables
        xorl %eax, %eax
        movl $3072, %ecx
        rep stosl
        # PML4[0] -> PDPT, PDPT[0] -> PD, PD[i] = i * 2 MiB | present|write|huge
        movl $pml4, %edi
        movl $pdpt, %eax
        orl $3, %eax
        movl %eax, (%edi)
        movl $pdpt, %edi
        movl $pd, %eax
        orl $3, %eax
        movl %eax, (%edi)
        movl $pd, %edi
        xorl %ecx, %ecx
1:      movl %ecx, %eax
        shll $21, %eax
        orl $0x83, %eax
        movl %eax, (%edi,%ecx,8)
        incl %ecx
        cmpl $512, %ecx
        jne 1b
        movl $pml4, %eax
        movl %eax, %cr3
        movl %cr4, %eax
        orl $0x20, %eax                     # PAE
        movl %eax, %cr4
        movl $0xC0000080, %ecx              # EFER
        rdmsr
        orl $0x100, %eax                    # LME
        wrmsr
        movl %cr0, %eax
        orl $0x80000001, %eax               # PG | PE
        movl %eax, %cr0
        lgdt gdt_ptr
        ljmp $0x08, $long_mode
        .code64
long_mode:
        movq $0x1000000, %rdi               # touch 32 MiB from 16 MiB up, as a kernel
        movq $0x400000, %rcx                # unpacking itself does
        movq $0x5a5a5a5a5a5a5a5a, %rax
        rep stosq
        movb $1, %al
        outb %al, $0xf4
2:      hlt
        jmp 2b
        .align 8
gdt:
        .quad 0
        .quad 0x00AF9A000000FFFF            # 64-bit code segment
gdt_ptr:
        .word gdt_ptr - gdt - 1
        .long gdt
        .section .bss
        .align 4096
pml4:   .skip 4096
pdpt:   .skip 4096
pd:     .skip 4096
