#include "report.hpp"

#include "gradoracle/fixtures/fixture.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

namespace gradoracle::cli {

namespace fs = std::filesystem;
using nlohmann::json;

int Report::exit_code() const {
  int code = kPass;
  for (const Case& c : cases) {
    if (c.status == "error") return kBad;
    if (c.status == "fail") code = kFail;
  }
  return code;
}

namespace {

// Attribute and text content: the five entities escaped, forbidden control characters replaced.
std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 forbids most control characters, even escaped.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r') out += '?';
        else out += c;
    }
  }
  return out;
}

// Seconds as JUnit readers parse them (xs:decimal): "0.012", never "1.2e-05".
std::string seconds_text(double s) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", std::isfinite(s) && s > 0 ? s : 0.0);
  return buf;
}

// "2024-05-01T12:34:56": local time without zone, as Ant, Surefire and Jenkins' schema have it.
std::string timestamp_text(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm local{};
  localtime_r(&tt, &local);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &local);
  return buf;
}

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !*buf) return "localhost";
  return buf;
}

}  // namespace

std::string junit(const Report& r) {
  int failures = 0, errors = 0, skipped = 0;
  double total = 0;
  for (const Case& c : r.cases) {
    failures += c.status == "fail";
    errors += c.status == "error";
    skipped += c.status == "skip";
    total += c.seconds;
  }
  const std::string counts = "tests=\"" + std::to_string(r.cases.size()) + "\" failures=\"" + std::to_string(failures) +
                             "\" errors=\"" + std::to_string(errors) + "\" skipped=\"" + std::to_string(skipped) +
                             "\" time=\"" + seconds_text(total) + "\" timestamp=\"" + timestamp_text(r.started) + "\"";
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << "<testsuites name=\"gradoracle\" " << counts << ">\n";
  out << "  <testsuite name=\"gradoracle." << xml_escape(r.command) << "\" " << counts << " hostname=\""
      << xml_escape(hostname()) << "\">\n";
  if (!r.properties.empty()) {
    out << "    <properties>\n";
    for (const auto& [name, value] : r.properties)
      out << "      <property name=\"" << xml_escape(name) << "\" value=\"" << xml_escape(value) << "\"/>\n";
    out << "    </properties>\n";
  }
  for (const Case& c : r.cases) {
    const std::string classname = c.classname.empty() ? "gradoracle." + r.command : c.classname;
    out << "    <testcase classname=\"" << xml_escape(classname) << "\" name=\"" << xml_escape(c.name) << "\"";
    if (!c.file.empty()) out << " file=\"" << xml_escape(c.file) << "\"";
    out << " time=\"" << seconds_text(c.seconds) << "\"";
    if (c.status == "pass") {
      out << "/>\n";
      continue;
    }
    out << ">\n";
    if (c.status == "fail")
      out << "      <failure message=\"" << xml_escape(c.message) << "\">" << xml_escape(c.detail.is_string() ? c.detail.get<std::string>() : c.detail.dump(2)) << "</failure>\n";
    else if (c.status == "error")
      out << "      <error message=\"" << xml_escape(c.message) << "\"/>\n";
    else
      out << "      <skipped message=\"" << xml_escape(c.message) << "\"/>\n";
    out << "    </testcase>\n";
  }
  out << "  </testsuite>\n</testsuites>\n";
  return out.str();
}

json report_json(const Report& r) {
  json cases = json::array();
  int counts[4] = {0, 0, 0, 0};
  for (const Case& c : r.cases) {
    json j = {{"name", c.name}, {"status", c.status}, {"message", c.message}, {"seconds", c.seconds}};
    if (!c.file.empty()) j["file"] = c.file;
    if (!c.detail.is_null()) j["detail"] = c.detail;
    cases.push_back(std::move(j));
    counts[c.status == "pass" ? 0 : c.status == "fail" ? 1 : c.status == "error" ? 2 : 3]++;
  }
  return {{"command", r.command},
          {"exit_code", r.exit_code()},
          {"summary", {{"total", r.cases.size()}, {"passed", counts[0]}, {"failed", counts[1]}, {"errors", counts[2]}, {"skipped", counts[3]}}},
          {"cases", std::move(cases)}};
}

int write_junit(const Report& r, const Output& o, int code) {
  if (o.junit_file.empty()) return code;
  try {
    fixtures::write_text_atomically(o.junit_file, junit(r));
  } catch (const std::exception& e) {
    std::cerr << "gradoracle: " << e.what() << "\n";
    return kBad;
  }
  return code;
}

int finish(const Report& r, const Output& o) {
  if (o.json) std::cout << report_json(r).dump(2) << "\n";
  return write_junit(r, o, r.exit_code());
}

// FILE|DIR... -> the .json files, sorted within each directory. A missing path is an error case.
std::vector<std::string> expand(const std::vector<std::string>& paths, Report& report) {
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (fs::recursive_directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_regular_file() && it->path().extension() == ".json") found.push_back(it->path().string());
      std::sort(found.begin(), found.end());
      if (found.empty()) report.cases.push_back({p, p, "error", "no .json fixtures in this directory", 0, nullptr, ""});
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(p, ec)) {
      files.push_back(p);
    } else {
      report.cases.push_back({p, p, "error", "no such file or directory", 0, nullptr, ""});
    }
  }
  return files;
}

void print_line(const Case& c, bool json_mode) {
  std::ostream& os = json_mode ? std::cerr : std::cout;
  std::string tag = c.status == "pass" ? "PASS" : c.status == "fail" ? "FAIL" : c.status == "error" ? "ERROR" : "SKIP";
  os << tag << " " << c.name;
  if (!c.file.empty() && c.file != c.name) os << " (" << c.file << ")";
  if (!c.message.empty()) os << ": " << c.message;
  os << "\n";
}

std::string shell_quote(const std::string& s) {
  static const char* const plain = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._+-=:,@%";
  if (!s.empty() && s.find_first_not_of(plain) == std::string::npos) return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}
std::string counted(long long n, const std::string& noun) { return std::to_string(n) + " " + noun + (n == 1 ? "" : "s"); }

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace gradoracle::cli
