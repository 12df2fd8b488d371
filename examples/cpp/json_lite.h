// json_lite.h: a small, strict JSON reader (objects, arrays, strings, numbers, true/false/null),
// enough to read a plan's sidecar without a third-party JSON library. Header-only, C++17.
#pragma once

#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace json_lite {

struct Value {
    enum class Type { Null, Bool, Number, String, Array, Object } type = Type::Null;
    bool boolean = false;
    double number = 0.0;
    std::string string;
    std::vector<Value> array;
    std::map<std::string, Value> object;

    bool has(const std::string& key) const { return type == Type::Object && object.count(key) > 0; }
    const Value& operator[](const std::string& key) const {
        auto it = object.find(key);
        if (type != Type::Object || it == object.end()) throw std::runtime_error("missing JSON field '" + key + "'");
        return it->second;
    }
    const Value& operator[](std::size_t index) const {
        if (type != Type::Array || index >= array.size()) throw std::runtime_error("JSON array index out of range");
        return array[index];
    }
    const std::string& str() const {
        if (type != Type::String) throw std::runtime_error("JSON value is not a string");
        return string;
    }
    long long integer() const {
        if (type != Type::Number) throw std::runtime_error("JSON value is not a number");
        return static_cast<long long>(number);
    }
    bool truthy() const { return type == Type::Bool ? boolean : type != Type::Null; }
};

class Parser {
public:
    explicit Parser(const std::string& text) : s_(text) {}
    Value parse() {
        Value v = value();
        ws();
        if (i_ != s_.size()) fail("trailing characters");
        return v;
    }

private:
    const std::string& s_;
    std::size_t i_ = 0;

    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error("invalid JSON at offset " + std::to_string(i_) + ": " + what);
    }
    void ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
    }
    char peek() {
        ws();
        if (i_ >= s_.size()) fail("unexpected end");
        return s_[i_];
    }
    void expect(const char* word) {
        for (const char* p = word; *p; ++p, ++i_)
            if (i_ >= s_.size() || s_[i_] != *p) fail(std::string("expected '") + word + "'");
    }
    Value value() {
        Value v;
        char c = peek();
        if (c == '{') {
            v.type = Value::Type::Object;
            ++i_;
            if (peek() == '}') { ++i_; return v; }
            while (true) {
                if (peek() != '"') fail("expected a key");
                std::string key = string();
                if (peek() != ':') fail("expected ':'");
                ++i_;
                v.object[key] = value();
                char d = peek();
                ++i_;
                if (d == '}') break;
                if (d != ',') fail("expected ',' or '}'");
            }
        } else if (c == '[') {
            v.type = Value::Type::Array;
            ++i_;
            if (peek() == ']') { ++i_; return v; }
            while (true) {
                v.array.push_back(value());
                char d = peek();
                ++i_;
                if (d == ']') break;
                if (d != ',') fail("expected ',' or ']'");
            }
        } else if (c == '"') {
            v.type = Value::Type::String;
            v.string = string();
        } else if (c == 't') {
            expect("true"); v.type = Value::Type::Bool; v.boolean = true;
        } else if (c == 'f') {
            expect("false"); v.type = Value::Type::Bool;
        } else if (c == 'n') {
            expect("null");
        } else {
            const char* start = s_.c_str() + i_;
            char* end = nullptr;
            v.number = std::strtod(start, &end);
            if (end == start) fail("expected a value");
            v.type = Value::Type::Number;
            i_ += static_cast<std::size_t>(end - start);
        }
        return v;
    }
    std::string string() {
        std::string out;
        ++i_;  // opening quote
        while (i_ < s_.size() && s_[i_] != '"') {
            char c = s_[i_++];
            if (c == '\\') {
                if (i_ >= s_.size()) fail("bad escape");
                char e = s_[i_++];
                switch (e) {
                    case 'n': out += '\n'; break;
                    case 't': out += '\t'; break;
                    case 'r': out += '\r'; break;
                    case 'b': out += '\b'; break;
                    case 'f': out += '\f'; break;
                    case 'u': {  // keep ASCII, replace the rest: sidecar fields we read are ASCII
                        if (i_ + 4 > s_.size()) fail("bad \\u escape");
                        unsigned code = static_cast<unsigned>(std::stoul(s_.substr(i_, 4), nullptr, 16));
                        out += code < 128 ? static_cast<char>(code) : '?';
                        i_ += 4;
                        break;
                    }
                    default: out += e;
                }
            } else {
                out += c;
            }
        }
        if (i_ >= s_.size()) fail("unterminated string");
        ++i_;  // closing quote
        return out;
    }
};

inline Value parse(const std::string& text) { return Parser(text).parse(); }

}  // namespace json_lite
