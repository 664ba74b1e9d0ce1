// A small JSON reader (objects, arrays, numbers, strings, true/false/null) for the runner's
// weights file: no third-party dependency.
#pragma once

#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

struct JsonValue {
    enum Type { Null, Bool, Number, String, Array, Object } type = Null;
    bool boolean = false;
    double number = 0.0;
    std::string text;
    std::vector<JsonValue> items;
    std::map<std::string, JsonValue> members;

    bool has(const std::string& key) const { return type == Object && members.count(key) != 0; }
};

class JsonParser {
public:
    JsonParser(const std::string& text, std::string source) : s_(text), source_(std::move(source)) {}

    JsonValue parse() {
        JsonValue v = value();
        skip();
        if (i_ != s_.size()) fail("trailing characters after the JSON value");
        return v;
    }

private:
    [[noreturn]] void fail(const std::string& why) const {
        throw std::runtime_error(source_ + ": invalid JSON at byte " + std::to_string(i_) + ": " + why);
    }
    void skip() {
        while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    bool consume(const char* word) {
        const std::string w(word);
        if (s_.compare(i_, w.size(), w) == 0) {
            i_ += w.size();
            return true;
        }
        return false;
    }
    JsonValue value() {
        skip();
        if (i_ >= s_.size()) fail("unexpected end");
        JsonValue v;
        const char c = s_[i_];
        if (c == '{') {
            v.type = JsonValue::Object;
            ++i_;
            skip();
            if (i_ < s_.size() && s_[i_] == '}') {
                ++i_;
                return v;
            }
            while (true) {
                skip();
                if (i_ >= s_.size() || s_[i_] != '"') fail("expected a string key");
                std::string key = string_literal();
                skip();
                if (i_ >= s_.size() || s_[i_] != ':') fail("expected ':'");
                ++i_;
                v.members[key] = value();
                skip();
                if (i_ < s_.size() && s_[i_] == ',') { ++i_; continue; }
                if (i_ < s_.size() && s_[i_] == '}') { ++i_; return v; }
                fail("expected ',' or '}'");
            }
        }
        if (c == '[') {
            v.type = JsonValue::Array;
            ++i_;
            skip();
            if (i_ < s_.size() && s_[i_] == ']') {
                ++i_;
                return v;
            }
            while (true) {
                v.items.push_back(value());
                skip();
                if (i_ < s_.size() && s_[i_] == ',') { ++i_; continue; }
                if (i_ < s_.size() && s_[i_] == ']') { ++i_; return v; }
                fail("expected ',' or ']'");
            }
        }
        if (c == '"') {
            v.type = JsonValue::String;
            v.text = string_literal();
            return v;
        }
        if (consume("true")) { v.type = JsonValue::Bool; v.boolean = true; return v; }
        if (consume("false")) { v.type = JsonValue::Bool; return v; }
        if (consume("null")) return v;
        const char* begin = s_.c_str() + i_;
        char* end = nullptr;
        v.number = std::strtod(begin, &end);
        if (end == begin) fail("unexpected character");
        v.type = JsonValue::Number;
        i_ += static_cast<std::size_t>(end - begin);
        return v;
    }
    std::string string_literal() {
        ++i_;  // opening quote
        std::string out;
        while (i_ < s_.size() && s_[i_] != '"') {
            char c = s_[i_++];
            if (c == '\\') {
                if (i_ >= s_.size()) fail("unterminated escape");
                const char e = s_[i_++];
                switch (e) {
                    case 'n': out += '\n'; break;
                    case 't': out += '\t'; break;
                    case 'r': out += '\r'; break;
                    case 'b': out += '\b'; break;
                    case 'f': out += '\f'; break;
                    case 'u': {
                        if (i_ + 4 > s_.size()) fail("short \\u escape");
                        const long code = std::strtol(s_.substr(i_, 4).c_str(), nullptr, 16);
                        i_ += 4;
                        out += code < 128 ? static_cast<char>(code) : '?';
                        break;
                    }
                    default: out += e;
                }
            } else {
                out += c;
            }
        }
        if (i_ >= s_.size()) fail("unterminated string");
        ++i_;
        return out;
    }

    const std::string& s_;
    std::string source_;
    std::size_t i_ = 0;
};
