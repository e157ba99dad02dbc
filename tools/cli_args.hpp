// Command-line parsing for the convlayer tool: flags checked against a subcommand's list, and
// strict parsers for sizes ("3", "3x5", "227x227x3"). Every error is a UsageError whose message
// names the flag and quotes the bad value; the tool prints it and exits with code 2.
#pragma once

#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "convlayer/core/checked_math.hpp"
#include "convlayer/core/conv_geometry.hpp"

namespace convlayer::cli {

/// A malformed command line (exit code 2).
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// One flag a subcommand accepts. `value` is the placeholder shown in --help ("F|FhxFw"), empty
/// for a switch that takes no value (--json).
struct FlagSpec {
    std::string name;
    std::string value;
    std::string help;
};

/// The flags of one command line, checked against `specs`: unknown flags, a flag given twice,
/// a missing value and stray arguments are UsageErrors. Accepts "--flag value" and "--flag=value".
class ParsedFlags {
public:
    ParsedFlags(const std::vector<FlagSpec>& specs, const std::vector<std::string>& args) {
        for (std::size_t i = 0; i < args.size(); ++i) {
            const std::string& arg = args[i];
            if (arg == "--help" || arg == "-h") {
                help_ = true;
                continue;
            }
            if (arg.rfind("--", 0) != 0 || arg.size() == 2)
                fail("unexpected argument '" + arg + "' (flags start with --)");
            const std::size_t eq = arg.find('=');
            const std::string name = arg.substr(0, eq);
            const FlagSpec* spec = find(specs, name);
            if (!spec) fail("unknown flag '" + name + "'");
            if (values_.count(name)) fail(name + " is given twice");
            if (spec->value.empty()) {
                if (eq != std::string::npos) fail(name + " takes no value, got '" + arg.substr(eq + 1) + "'");
                values_[name] = "";
            } else if (eq != std::string::npos) {
                values_[name] = arg.substr(eq + 1);
            } else if (i + 1 < args.size() && !is_flag(args[i + 1])) {
                values_[name] = args[++i];
            } else {
                fail(name + " needs a value (" + spec->value + ")" +
                     (i + 1 < args.size() ? ", got the flag '" + args[i + 1] + "'" : ""));
            }
        }
    }

    bool help() const { return help_; }
    bool has(const std::string& name) const { return values_.count(name) != 0; }
    /// The value of a flag that has() it.
    const std::string& value(const std::string& name) const { return values_.at(name); }
    /// The value of a required flag, or a UsageError naming it.
    const std::string& required(const std::string& name, const char* what) const {
        if (!has(name)) fail("missing " + name + " (" + what + ")");
        return value(name);
    }

    [[noreturn]] void fail(const std::string& why) const { throw UsageError(why); }

private:
    static const FlagSpec* find(const std::vector<FlagSpec>& specs, const std::string& name) {
        for (const FlagSpec& s : specs)
            if (name == s.name) return &s;
        return nullptr;
    }
    // "--x" is a flag; "-1" is a (negative) value, reported by the value's parser.
    static bool is_flag(const std::string& arg) { return arg.rfind("--", 0) == 0 || arg == "-h"; }

    std::map<std::string, std::string> values_;
    bool help_ = false;
};

/// Largest size any flag accepts; products are checked by the library.
inline constexpr index_t kMaxSize = 2147483647;

/// A whole number in [lo, hi]: digits only (no sign, no spaces, no decimal point).
inline index_t parse_count(const std::string& flag, const std::string& text, index_t lo, index_t hi, const char* what,
                           const std::string& quoted = "") {
    const std::string shown = "'" + (quoted.empty() ? text : quoted) + "'";
    if (text.empty()) throw UsageError(flag + " " + shown + ": empty " + what);
    if (text[0] == '-' && text.find_first_not_of("0123456789", 1) == std::string::npos && text.size() > 1)
        throw UsageError(flag + " " + shown + ": " + what + " must not be negative");
    if (text.find_first_not_of("0123456789") != std::string::npos)
        throw UsageError(flag + " " + shown + ": '" + text + "' is not a whole number (" + what + ")");
    index_t v = 0;
    for (const char c : text) {
        v = v * 10 + (c - '0');
        if (v > hi)
            throw UsageError(flag + " " + shown + ": " + what + " is too large (at most " + std::to_string(hi) + ")");
    }
    if (v < lo) throw UsageError(flag + " " + shown + ": " + what + " must be at least " + std::to_string(lo));
    return v;
}

/// "a", "axb", "axbxc": the sizes between the x's (each checked as parse_count).
inline std::vector<index_t> parse_sizes(const std::string& flag, const std::string& text, std::size_t min_parts,
                                        std::size_t max_parts, index_t lo, const char* what, const char* form) {
    std::vector<std::string> parts;
    std::size_t begin = 0;
    for (;;) {
        const std::size_t x = text.find('x', begin);
        parts.push_back(text.substr(begin, x == std::string::npos ? std::string::npos : x - begin));
        if (x == std::string::npos) break;
        begin = x + 1;
    }
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (parts[i].empty() && (parts.size() > 1 || text.empty()))
            throw UsageError(flag + " '" + text + "': a size is missing " +
                             (parts.size() == 1 ? std::string("(empty value)")
                              : i == 0          ? std::string("before the first 'x'")
                                                : std::string("after an 'x'")) +
                             "; expected " + form);
    }
    if (parts.size() < min_parts || parts.size() > max_parts) {
        throw UsageError(flag + " '" + text + "': expected " + form + ", got " + std::to_string(parts.size()) +
                         (parts.size() == 1 ? " size" : " sizes"));
    }
    std::vector<index_t> sizes;
    for (const std::string& part : parts) sizes.push_back(parse_count(flag, part, lo, kMaxSize, what, text));
    return sizes;
}

/// "3" (both axes) or "3x5" (height x width).
inline HW parse_hw(const std::string& flag, const std::string& text, index_t lo, const char* what, const char* form) {
    const std::vector<index_t> v = parse_sizes(flag, text, 1, 2, lo, what, form);
    return v.size() == 1 ? HW(v[0]) : HW(v[0], v[1]);
}

/// One of `names` (e.g. the to_string of each enumerator), or a UsageError listing them.
inline std::size_t parse_choice(const std::string& flag, const std::string& text,
                                const std::vector<std::string>& names) {
    for (std::size_t i = 0; i < names.size(); ++i)
        if (text == names[i]) return i;
    std::string list;
    for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
    throw UsageError(flag + " '" + text + "': unknown value; expected one of " + list);
}

}  // namespace convlayer::cli
