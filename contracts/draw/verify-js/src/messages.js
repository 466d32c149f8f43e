// Vietnamese messages for the page "Kiểm tra biên nhận": one short sentence per check name,
// `passed` saying what the check proves, `failed` what went wrong. Keys are the stable check
// names of SPEC §7.3 (plus `trust`, for a pinned trust file the verifier refuses).

export const MESSAGES_VI = Object.freeze({
  trust: {
    passed: 'Tệp khóa tin cậy (khóa ký của sổ nhật ký và của nguồn ngẫu nhiên) hợp lệ.',
    failed: 'Tệp khóa tin cậy không hợp lệ nên không thể kiểm tra biên nhận.',
  },
  format: {
    passed: 'Biên nhận đúng định dạng quy định.',
    failed: 'Biên nhận không đúng định dạng quy định: tệp bị hỏng hoặc đã bị sửa.',
  },
  rotations: {
    passed: 'Mỗi lần đổi khóa ký của sổ nhật ký đều được khóa trước đó xác nhận.',
    failed: 'Chuỗi đổi khóa ký của sổ nhật ký không hợp lệ.',
  },
  checkpoint: {
    passed: 'Điểm kiểm tra của sổ nhật ký có chữ ký hợp lệ của cơ quan đăng ký.',
    failed: 'Chữ ký của điểm kiểm tra không hợp lệ.',
  },
  'commit-inclusion': {
    passed: 'Bản cam kết bốc số có trong sổ nhật ký công khai.',
    failed: 'Không chứng minh được bản cam kết bốc số có trong sổ nhật ký công khai.',
  },
  'result-inclusion': {
    passed: 'Kết quả bốc số có trong sổ nhật ký công khai.',
    failed: 'Không chứng minh được kết quả bốc số có trong sổ nhật ký công khai.',
  },
  'commit-entry': {
    passed: 'Bản cam kết bốc số được ghi đúng cấu trúc.',
    failed: 'Bản cam kết bốc số trong biên nhận không đọc được.',
  },
  'result-entry': {
    passed: 'Kết quả bốc số được ghi đúng cấu trúc.',
    failed: 'Kết quả bốc số trong biên nhận không đọc được.',
  },
  rules: {
    passed: 'Lượt bốc số áp dụng đúng phiên bản quy tắc hiện hành.',
    failed: 'Lượt bốc số không theo phiên bản quy tắc hiện hành.',
  },
  order: {
    passed: 'Bản cam kết được ghi vào sổ trước kết quả.',
    failed: 'Kết quả bốc số không được ghi vào sổ sau bản cam kết.',
  },
  link: {
    passed: 'Kết quả trả lời đúng bản cam kết bốc số này.',
    failed: 'Kết quả không khớp với bản cam kết bốc số.',
  },
  commitment: {
    passed: 'Lượt bốc số này đúng là của hồ sơ của bạn.',
    failed: 'Lượt bốc số không khớp với mã hồ sơ của bạn.',
  },
  beacon: {
    passed: 'Giá trị ngẫu nhiên lấy từ nguồn ngẫu nhiên công khai đã ghim và là giá trị duy nhất của vòng đó.',
    failed: 'Giá trị ngẫu nhiên không phải của nguồn ngẫu nhiên công khai đã ghim, hoặc thông tin về nguồn bị sai lệch.',
  },
  'commit-before-beacon': {
    passed: 'Lượt bốc số đã được cam kết trước khi giá trị ngẫu nhiên được công bố.',
    failed: 'Lượt bốc số không được cam kết đủ sớm trước khi giá trị ngẫu nhiên được công bố.',
  },
  previous: {
    passed: 'Lượt bốc số liền trước trong cùng kho số đã có kết quả trước lượt này.',
    failed: 'Không chứng minh được lượt bốc số liền trước trong cùng kho số đã có kết quả trước.',
  },
  seed: {
    passed: 'Giá trị khởi tạo của lượt bốc được tính đúng từ bản cam kết và giá trị ngẫu nhiên.',
    failed: 'Giá trị khởi tạo của lượt bốc không được tính đúng.',
  },
  pool: {
    passed: 'Danh sách số còn trống khớp với danh sách đã chốt khi cam kết.',
    failed: 'Danh sách số còn trống không khớp với danh sách đã chốt khi cam kết.',
  },
  taken: {
    passed: 'Mọi số bị bỏ qua đều đã được cấp cho các lượt bốc cam kết trước.',
    failed: 'Có số bị bỏ qua mà không chứng minh được là đã cấp cho một lượt bốc cam kết trước.',
  },
  index: {
    passed: 'Vị trí của số được rút được tính đúng từ giá trị khởi tạo.',
    failed: 'Vị trí của số được rút không khớp với giá trị khởi tạo.',
  },
  plate: {
    passed: 'Biển số trên biên nhận đúng là biển số được rút.',
    failed: 'Biển số trên biên nhận không phải biển số được rút.',
  },
});

/** The Vietnamese sentence for a check: what it proves (passed) or what failed. */
export function messageVi(check, passed) {
  const m = MESSAGES_VI[check];
  if (!m) return passed ? 'Đã kiểm tra.' : 'Kiểm tra không đạt.';
  return passed ? m.passed : m.failed;
}
