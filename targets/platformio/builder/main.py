"""SCons build script of edgekit's dev-platform: bare-metal Cortex-M with arm-none-eabi-gcc.

Project options read here (set by edgekit in the generated platformio.ini):
  board_build.ldscript          linker script (INCLUDEs common.ld from the same folder)
  board_build.cpu_flags         e.g. "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
  upload_protocol               qemu | openocd | st-flash
  custom_qemu_args              extra QEMU arguments (e.g. the TCP serial port)
"""

import os
import shlex

from SCons.Script import AlwaysBuild, Builder, Default, DefaultEnvironment

env = DefaultEnvironment()
platform = env.PioPlatform()
board = env.BoardConfig()
config = env.GetProjectConfig()
section = "env:" + env["PIOENV"]


def opt(name, default=""):
    return config.get(section, name, default) if config.has_option(section, name) else default


toolchain = platform.get_package_dir("toolchain-edgekit-arm")
if toolchain:
    env.PrependENVPath("PATH", os.path.join(toolchain, "bin"))

cpu_flags = shlex.split(opt("board_build.cpu_flags") or board.get("build.cpu_flags", ""))

env.Replace(
    AR="arm-none-eabi-ar",
    AS="arm-none-eabi-as",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-ranlib",
    SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"],
    SIZEPROGREGEXP=r"^(?:\.isr_vector|\.text|\.data|\.rodata|\.ARM\.exidx|\.ARM\.extab)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.stack)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
    PROGSUFFIX=".elf",
    PROGNAME="firmware",
)

env.Append(
    ASFLAGS=cpu_flags,
    CCFLAGS=cpu_flags + ["-O2", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra"],
    CFLAGS=["-std=c99"],
    LINKFLAGS=cpu_flags + ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections"],
    LIBS=["m"],
)

ldscript = opt("board_build.ldscript") or board.get("build.ldscript", "")
if ldscript:
    env.Replace(LDSCRIPT_PATH=ldscript)
    env.Append(LIBPATH=[os.path.dirname(ldscript)])

env.Append(
    BUILDERS=dict(
        ElfToBin=Builder(
            action=env.VerboseAction("$OBJCOPY -O binary $SOURCES $TARGET", "Building $TARGET"), suffix=".bin"
        )
    )
)

target_elf = env.BuildProgram()
target_bin = env.ElfToBin(os.path.join("$BUILD_DIR", "${PROGNAME}"), target_elf)
env.Depends(target_bin, "checkprogsize")

protocol = env.subst("$UPLOAD_PROTOCOL") or board.get("upload.protocol", "qemu")
if protocol == "qemu":
    machine = board.get("debug.qemu_machine", "netduinoplus2")
    env.Replace(
        UPLOADCMD=" ".join(
            [
                "qemu-system-arm -M",
                machine,
                "-display none -monitor none -nodefaults",
                "-icount shift=0,align=off,sleep=off -semihosting-config enable=on,target=native",
                opt("custom_qemu_args"),
                "-kernel $SOURCE",
            ]
        )
    )
    upload_source = target_elf
elif protocol == "openocd":
    env.Replace(
        UPLOADCMD="openocd -f interface/stlink.cfg -f "
        + board.get("debug.openocd_target", "target/stm32f4x.cfg")
        + ' -c "program {$SOURCE} verify reset exit"',
    )
    upload_source = target_elf
elif protocol == "st-flash":
    env.Replace(UPLOADCMD="st-flash --reset write $SOURCE 0x08000000")
    upload_source = target_bin
else:
    env.Replace(UPLOADCMD=f"echo unknown upload_protocol {protocol} && false")
    upload_source = target_elf

AlwaysBuild(env.Alias("upload", upload_source, [env.VerboseAction("$UPLOADCMD", "Uploading $SOURCE")]))
Default([target_bin])
